import * as tf from "@tensorflow/tfjs";

export interface HeadInitLayer {
  layer: string;
  /** Mean over the sample and units of the pre-activation before rescaling. */
  meanBefore: number;
  /** Mean standard deviation over units of the pre-activation before rescaling. */
  stdBefore: number;
  /** Share of (sample, unit) pairs the following ReLU passes, after rescaling. */
  activeAfter: number;
  /** reviveDeadHeadUnits only: units that were off for every sampled image. */
  revived?: number;
}

/**
 * Data-dependent initialisation of the classifier head (LSUV-style): each hidden Dense layer's
 * weights and bias are rescaled so that, over a sample of real backbone features, every unit's
 * pre-activation has mean 0 and standard deviation 1. The architecture is unchanged.
 *
 * Why: a backbone's pooled features share a large positive offset (they come out of ReLU/ReLU6),
 * so with a plain He init the 20-10-5 head's units are either on for every image or off for
 * every image. Units that are off everywhere never receive a gradient (a dead head: the loss sits
 * at the class prior and, in FT, nothing reaches the backbone either). Centring each unit on the
 * data makes it fire for about half the images, which is what the init assumed.
 *
 * `features` is the head's input for a sample of training images (the pooled backbone output).
 * The logits layer is left as initialised. Runs layers in inference mode (dropout off).
 */
export function initHeadFromData(head: tf.LayersModel, features: tf.Tensor2D, eps = 1e-6): HeadInitLayer[] {
  return rescaleHead(head, features, { deadOnly: false, seed: 0, eps });
}

/**
 * Revives dead hidden head units: a unit whose pre-activation is <= 0 for every image of the
 * sample gets a fresh random incoming weight vector, centred and scaled on the sample like
 * `initHeadFromData`. Live units are left exactly as they are, so a head that learned something
 * (a pretrained backbone's FE head) is unchanged, while one that collapsed onto the class prior
 * (every unit off: no gradient reaches the backbone in FT) can learn again.
 */
export function reviveDeadHeadUnits(
  head: tf.LayersModel,
  features: tf.Tensor2D,
  seed: number,
  eps = 1e-6,
): HeadInitLayer[] {
  return rescaleHead(head, features, { deadOnly: true, seed, eps });
}

function rescaleHead(
  head: tf.LayersModel,
  features: tf.Tensor2D,
  o: { deadOnly: boolean; seed: number; eps: number },
): HeadInitLayer[] {
  const eps = o.eps;
  const report: HeadInitLayer[] = [];
  const layers = head.layers.filter((l) => l.getClassName() !== "InputLayer");
  const last = layers[layers.length - 1];
  let x = tf.clone(features) as tf.Tensor2D;
  try {
    for (const layer of layers) {
      if (layer.getClassName() === "Dense" && layer !== last) {
        const [kernel, bias] = layer.getWeights();
        if (!kernel || !bias) throw new Error(`head layer ${layer.name}: expected a kernel and a bias`);
        let revived = 0;
        const scaled = tf.tidy(() => {
          let k = kernel as tf.Tensor2D;
          let bvec = bias as tf.Tensor1D;
          // Units to centre and scale: every unit, or (revival) only those off for the whole sample,
          // which first get fresh incoming weights. The others keep their weights exactly.
          let chosen: tf.Tensor1D = tf.onesLike(bvec).cast("bool") as tf.Tensor1D;
          if (o.deadOnly) {
            chosen = tf.lessEqual(tf.max(tf.add(tf.matMul(x, k), bvec), 0), 0) as tf.Tensor1D;
            revived = tf.sum(tf.cast(chosen, "int32")).dataSync()[0] as number;
            const [fanIn] = k.shape;
            const fresh = tf.randomNormal(
              k.shape,
              0,
              Math.sqrt(2 / fanIn),
              "float32",
              o.seed + report.length,
            );
            k = tf.where(tf.broadcastTo(chosen, k.shape), fresh, k) as tf.Tensor2D;
            bvec = tf.where(chosen, tf.zerosLike(bvec), bvec) as tf.Tensor1D;
          }
          const { mean, variance } = tf.moments(tf.add(tf.matMul(x, k), bvec), 0);
          const std = tf.sqrt(tf.add(variance, eps));
          const s = tf.where(chosen, std, tf.onesLike(std));
          const m = tf.where(chosen, mean, tf.zerosLike(mean));
          return {
            kernel: tf.div(k, s),
            bias: tf.div(tf.sub(bvec, m), s),
            meanBefore: tf.mean(mean),
            stdBefore: tf.mean(std),
          };
        });
        layer.setWeights([scaled.kernel, scaled.bias]);
        const next = tf.tidy(() => layer.apply(x) as tf.Tensor2D);
        const active = tf.tidy(() => tf.mean(tf.cast(tf.greater(next, 0), "float32")));
        report.push({
          layer: layer.name,
          meanBefore: (scaled.meanBefore.dataSync()[0] as number) ?? 0,
          stdBefore: (scaled.stdBefore.dataSync()[0] as number) ?? 0,
          activeAfter: (active.dataSync()[0] as number) ?? 0,
          ...(o.deadOnly ? { revived } : {}),
        });
        tf.dispose([scaled.kernel, scaled.bias, scaled.meanBefore, scaled.stdBefore, active, x]);
        x = next;
      } else if (layer !== last) {
        const next = tf.tidy(() => layer.apply(x, { training: false }) as tf.Tensor2D);
        x.dispose();
        x = next;
      }
    }
  } finally {
    x.dispose();
  }
  return report;
}

/**
 * Starts the logits layer at the class prior: bias = log(prior) (centred) and the kernel scaled
 * down, so the initial prediction already is the prior. With the prior in the bias, the quickest
 * way to lower the loss is no longer to switch every hidden unit off (a head collapsed onto the
 * prior passes no gradient); only real signal lowers it further.
 * `prior` is per class and need not be normalised (class counts, times class weights if any).
 */
export function setLogitsToPrior(head: tf.LayersModel, prior: readonly number[], kernelScale = 0.1): void {
  const layers = head.layers.filter((l) => l.getClassName() === "Dense");
  const logits = layers[layers.length - 1];
  if (!logits) throw new Error("head has no Dense layer");
  const [kernel, bias] = logits.getWeights();
  if (!kernel || !bias) throw new Error(`head layer ${logits.name}: expected a kernel and a bias`);
  if (bias.size !== prior.length)
    throw new Error(
      `head layer ${logits.name} has ${bias.size} outputs but the prior has ${prior.length} classes`,
    );
  const total = prior.reduce((a, b) => a + b, 0);
  const logp = prior.map((p) => Math.log(Math.max(p / total, 1e-6)));
  const mean = logp.reduce((a, b) => a + b, 0) / logp.length;
  const next = tf.tidy(() => [tf.mul(kernel, kernelScale), tf.tensor1d(logp.map((v) => v - mean))]);
  logits.setWeights(next);
  tf.dispose(next);
}
