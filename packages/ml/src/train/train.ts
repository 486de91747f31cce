import { mkdir } from "node:fs/promises";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { PipelineConfig } from "@xnn/shared";
import { describeMemoryLimit } from "../backend/initBackend.js";
import { assertKernelsInstalled } from "../backend/kernels/index.js";
import { copyWeights, loadCheckpoint, saveCheckpoint } from "../checkpoint/index.js";
import { computeClassWeights } from "../data/classWeights.js";
import { batches, type ImageBatch, type SkipReport } from "../data/loader.js";
import { createRng, mixSeed, shuffleInPlace } from "../data/prng.js";
import { type DatasetItem, scanDataset } from "../data/scan.js";
import { classMeanGray, setModelBaseline } from "../explain/baseline.js";
import { precisionRecallF1Support } from "../metrics/classification.js";
import { evaluateClassifier } from "../metrics/evaluate.js";
import { buildModel, configureStage, HEAD_PREFIX } from "../models/index.js";
import { AdamW } from "../optim/adamw.js";
import { calibrateBatchNorm, setBatchNormMomentum } from "./batchnorm.js";
import { BestTracker, EarlyStopping, ReduceLROnPlateau, warmupFactor } from "./callbacks.js";
import { initHeadFromData, reviveDeadHeadUnits, setLogitsToPrior } from "./headInit.js";
import { configHash, markReported, RESUME_MODEL_DIR, restoreOptimizer, writeResumeState } from "./resume.js";
import {
  type BestCheckpoint,
  type EpochMetrics,
  type Prediction,
  type ResumeState,
  TrainingCancelledError,
  type TrainOptions,
  type TrainResult,
} from "./types.js";

export const BEST_CHECKPOINT_DIR = "checkpoint";
/** Training images used to check the head for dead units before FT. */
const HEAD_SAMPLE = 128;
/** PyTorch BatchNorm momentum 0.1 expressed the Keras way. */
const PYTORCH_BN_MOMENTUM = 0.9;

/** Lets a BullMQ worker in the same process renew its lock between batches. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Weighted softmax cross-entropy normalised like PyTorch's nn.CrossEntropyLoss(weight=w):
 * sum_i w[y_i] * l_i / sum_i w[y_i] (tfjs' fit classWeight divides by the batch size instead).
 * Returns the scalar loss and, separately, the weighted sum and weight sum so epoch losses can be
 * aggregated exactly over many batches.
 */
export function weightedCrossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  classWeights: tf.Tensor1D | null,
): { loss: tf.Scalar; weightedSum: tf.Scalar; weightSum: tf.Scalar } {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const onehot = tf.oneHot(labels, k).toFloat();
    const perSample = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1));
    const w = classWeights ? tf.gather(classWeights, labels) : tf.onesLike(perSample);
    const weightedSum = tf.sum(tf.mul(w, perSample)) as tf.Scalar;
    const weightSum = tf.sum(w) as tf.Scalar;
    return { loss: tf.div(weightedSum, weightSum) as tf.Scalar, weightedSum, weightSum };
  });
}

type Forward = (x: tf.Tensor, training: boolean) => tf.Tensor2D;

interface FeatureCache {
  /** Row-major [n, dim]. */
  feats: Float32Array;
  dim: number;
  labels: Int32Array;
  paths: string[];
}

interface SplitOutput {
  labels: number[];
  probs: number[][];
  paths: string[];
  /** Weighted CE over the whole split (sum w*l / sum w). */
  loss: number;
}

export function isHeapError(err: unknown): boolean {
  const msg = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  return /out of memory|OOM|ResourceExhausted|Cannot enlarge memory|Aborted\(|memory access out of bounds|RangeError: Array buffer allocation|allocation failed/i.test(
    msg,
  );
}

export function heapError(err: unknown, batchSize: number, imageSize: number, what: string): Error {
  const cause = err instanceof Error ? err.message.split("\n")[0] : String(err);
  return new Error(
    `${what}: ${describeMemoryLimit()}: a batch of ${batchSize} images at ${imageSize}x${imageSize} px ` +
      `does not fit: lower train.batchSize or data.imageSize. Cause: ${cause}`,
    { cause: err },
  );
}

/** The first head layer's input: everything before it is the frozen backbone in FE. */
function headStart(model: tf.LayersModel): { index: number; features: tf.SymbolicTensor } {
  const index = model.layers.findIndex((l) => l.name.startsWith(HEAD_PREFIX) && l.getClassName() === "Dense");
  if (index < 0)
    throw new Error(`model ${model.name} has no ${HEAD_PREFIX}* Dense layer to split the head at`);
  const layer = model.layers[index] as tf.layers.Layer;
  const input = layer.input;
  if (Array.isArray(input))
    throw new Error(`head layer ${layer.name} has several inputs; cannot cache features`);
  return { index, features: input };
}

/**
 * Splits the model into a frozen feature extractor and the head. The head model reuses the same
 * layer objects, so training it trains the full model's head weights in place.
 */
export function splitHead(model: tf.LayersModel): { extractor: tf.LayersModel; head: tf.LayersModel } {
  const { index, features } = headStart(model);
  const extractor = tf.model({ name: "xnn_feature_extractor", inputs: model.inputs, outputs: features });
  const hin = tf.input({ name: "cached_features", shape: features.shape.slice(1) as number[] });
  let x: tf.SymbolicTensor = hin;
  for (const layer of model.layers.slice(index)) {
    const inbound = layer.inboundNodes.length;
    if (inbound !== 1)
      throw new Error(`head layer ${layer.name} is used ${inbound} times; expected a linear head`);
    x = layer.apply(x) as tf.SymbolicTensor;
  }
  if (model.outputs.length !== 1) throw new Error("expected a single-output model");
  return { extractor, head: tf.model({ name: "xnn_head", inputs: hin, outputs: x }) };
}

async function collectFeatures(
  extractor: tf.LayersModel,
  items: readonly DatasetItem[],
  opts: { root: string; batchSize: number; imageSize: number; report: SkipReport },
): Promise<FeatureCache> {
  const dim = (extractor.outputs[0]?.shape ?? []).slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
  const feats = new Float32Array(items.length * dim);
  const labels = new Int32Array(items.length);
  const paths: string[] = [];
  let n = 0;
  for await (const b of batches(items, {
    batchSize: opts.batchSize,
    imageSize: opts.imageSize,
    root: opts.root,
    report: opts.report,
  })) {
    const out = tf.tidy(() => extractor.apply(tf.tensor4d(b.xs, b.shape), { training: false }) as tf.Tensor);
    feats.set(await out.data(), n * dim);
    out.dispose();
    labels.set(b.ys, n);
    paths.push(...b.paths);
    n += b.ys.length;
    await yieldToEventLoop();
  }
  return { feats: feats.slice(0, n * dim), dim, labels: labels.slice(0, n), paths };
}

function* featureBatches(
  cache: FeatureCache,
  batchSize: number,
  order: readonly number[],
): Generator<ImageBatch> {
  for (let s = 0; s < order.length; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    const xs = new Float32Array(idx.length * cache.dim);
    const ys = new Int32Array(idx.length);
    idx.forEach((r, j) => {
      xs.set(cache.feats.subarray(r * cache.dim, (r + 1) * cache.dim), j * cache.dim);
      ys[j] = cache.labels[r] as number;
    });
    // shape is [b, dim] here; ImageBatch's 4-d tuple is only a type for the image path.
    yield { xs, ys, paths: idx.map((r) => cache.paths[r] as string), shape: [idx.length, cache.dim, 1, 1] };
  }
}

function toInput(b: ImageBatch, cached: boolean): tf.Tensor {
  return cached ? tf.tensor2d(b.xs, [b.shape[0], b.shape[1]]) : tf.tensor4d(b.xs, b.shape);
}

async function predictSplit(
  forward: Forward,
  source: AsyncIterable<ImageBatch> | Iterable<ImageBatch>,
  cached: boolean,
  classWeights: tf.Tensor1D | null,
  guard: (err: unknown) => Error,
): Promise<SplitOutput> {
  const labels: number[] = [];
  const probs: number[][] = [];
  const paths: string[] = [];
  let wsum = 0;
  let wtot = 0;
  for await (const b of source) {
    let p: Float32Array;
    let ws: number;
    let wt: number;
    try {
      const res = tf.tidy(() => {
        const logits = forward(toInput(b, cached), false);
        const y = tf.tensor1d(b.ys, "int32");
        const ce = weightedCrossEntropy(logits, y, classWeights);
        return [tf.softmax(logits), ce.weightedSum, ce.weightSum] as const;
      });
      p = (await res[0].data()) as Float32Array;
      ws = (await res[1].data())[0] as number;
      wt = (await res[2].data())[0] as number;
      tf.dispose([...res]);
    } catch (err) {
      throw isHeapError(err) ? guard(err) : err;
    }
    const k = p.length / b.ys.length;
    for (let i = 0; i < b.ys.length; i++) {
      labels.push(b.ys[i] as number);
      probs.push(Array.from(p.subarray(i * k, (i + 1) * k)));
    }
    paths.push(...b.paths);
    wsum += ws;
    wtot += wt;
    await yieldToEventLoop();
  }
  return { labels, probs, paths, loss: wtot === 0 ? Number.NaN : wsum / wtot };
}

function argmaxRow(row: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
}

/**
 * Trains one pipeline stage (FE or FT) with a custom loop: AdamW, PyTorch-style weighted CE,
 * warm-up, ReduceLROnPlateau on val loss, early stopping on val loss, best checkpoint on val
 * weighted F1; then evaluates the best checkpoint on the test split. Uses whatever tfjs backend
 * is active (call initBackend first).
 */
export async function trainPipeline(config: PipelineConfig, opts: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const log = opts.log;
  assertKernelsInstalled("trainPipeline");
  const runDir = path.resolve(opts.runDir);
  await mkdir(runDir, { recursive: true });
  const hash = configHash(config);
  const resume = opts.resumeFrom;
  if (resume && resume.configHash !== hash) {
    throw new Error(
      `cannot resume from ${resume.dir}: it was written for another pipeline config (hash ${resume.configHash}, now ${hash})`,
    );
  }

  const { data, model: mcfg, stage, train: tcfg } = config;
  const scanned = await scanDataset(data.dir);
  const classNames = scanned.classNames;
  if (data.classNames && data.classNames.join("\u0000") !== classNames.join("\u0000")) {
    throw new Error(
      `data.classNames [${data.classNames.join(", ")}] do not match the class folders in ${scanned.root}: [${classNames.join(", ")}]`,
    );
  }
  const baselineSpec = config.eval.baseline;
  const baselineClass =
    baselineSpec && baselineSpec !== "black" ? classNames.indexOf(baselineSpec.meanOf) : undefined;
  if (baselineSpec && baselineSpec !== "black") {
    const n = scanned.splits.train.filter((i) => i.label === baselineClass).length;
    if (baselineClass === -1 || n === 0) {
      throw new Error(
        `eval.baseline.meanOf: "${baselineSpec.meanOf}" ${baselineClass === -1 ? "is not a class" : "has no training images"} in ${scanned.root} (classes: ${classNames.join(", ")})`,
      );
    }
  }
  const trainCounts = classNames.map((c) => scanned.counts.train[c] ?? 0);
  const weights = computeClassWeights(trainCounts, config.classWeighting, classNames);
  log("data set scanned", {
    root: scanned.root,
    classNames,
    train: scanned.splits.train.length,
    val: scanned.splits.val.length,
    test: scanned.splits.test.length,
    classWeights: config.classWeighting === "none" ? "none" : weights,
  });

  const built = await buildModel({
    arch: mcfg.arch,
    widthMultiplier: mcfg.widthMultiplier,
    imageSize: data.imageSize,
    numClasses: classNames.length,
    dropout: mcfg.dropout,
    seed: config.seed,
    ...(mcfg.headUnits ? { headUnits: mcfg.headUnits } : {}),
    ...(mcfg.pretrainedDir ? { pretrainedDir: mcfg.pretrainedDir } : {}),
  });
  const model = built.model;
  const disposables: { dispose(): void }[] = [];
  const classWeights = config.classWeighting === "none" ? null : tf.tensor1d(weights);
  if (classWeights) disposables.push(classWeights);

  try {
    if (resume) {
      const saved = await loadCheckpoint(path.join(resume.dir, RESUME_MODEL_DIR));
      copyWeights(saved, model, {
        strict: true,
        layerNames: model.layers.filter((l) => l.weights.length > 0).map((l) => l.name),
      });
      saved.dispose();
      log("resumed model weights", { from: resume.dir, completedEpochs: resume.epoch });
    } else if (opts.initFrom) {
      const init = await loadCheckpoint(opts.initFrom);
      const copied = copyWeights(init, model);
      init.dispose();
      log("initialised from checkpoint", { from: path.resolve(opts.initFrom), layersCopied: copied.length });
    }
    if (baselineSpec && baselineSpec !== "black") {
      // Recorded on the model, so every checkpoint saved below carries the run's IG reference.
      const mean = await classMeanGray(
        scanned.root,
        scanned.splits.train.filter((i) => i.label === baselineClass),
        data.imageSize,
      );
      setModelBaseline(model, { className: baselineSpec.meanOf, size: data.imageSize, ...mean });
      log("IG baseline", { meanOf: baselineSpec.meanOf, images: mean.images });
    }
    const trainableLayers = configureStage(model, built.backboneLayerNames, stage);
    const bnCount = setBatchNormMomentum(model, PYTORCH_BN_MOMENTUM);
    if (bnCount > 0)
      log("BatchNorm momentum set to PyTorch's default", {
        layers: bnCount,
        kerasMomentum: PYTORCH_BN_MOMENTUM,
      });
    const dropouts = model.layers.filter((l) => l.getClassName() === "Dropout") as unknown as {
      seed?: number;
    }[];
    const varList = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const nParams = varList.reduce((a, v) => a + v.size, 0);
    log("stage configured", {
      stage: stage.kind,
      trainableLayers: trainableLayers.length,
      trainableParams: nParams,
      init: built.init,
    });

    const optimizer = new AdamW({ learningRate: tcfg.learningRate, weightDecay: tcfg.weightDecay });
    disposables.push(optimizer);
    if (resume) await restoreOptimizer(optimizer, resume.dir);

    const report: SkipReport = { skipped: [] };
    const guard = (what: string) => (err: unknown) => heapError(err, tcfg.batchSize, data.imageSize, what);
    const root = scanned.root;

    // Feature caching: valid only when the backbone is frozen and its input never changes.
    const inputNoise = data.inputNoise ?? 0;
    const cached = data.cacheFeatures && stage.kind === "fe" && !data.augment && inputNoise === 0;
    if (data.cacheFeatures && !cached) {
      log("cacheFeatures ignored", {
        reason:
          stage.kind !== "fe"
            ? "the backbone trains in FT"
            : data.augment
              ? "augmentation changes the inputs every epoch"
              : "inputNoise changes the inputs every step",
      });
    }
    let forward: Forward = (x, training) => model.apply(x, { training }) as tf.Tensor2D;
    // FE without cached features: the frozen backbone runs outside the gradient tape (nothing of it
    // is trained), so its activations are freed at once instead of being kept for a backward pass
    // that never reaches them. Without this a 224 px batch of 32 exhausts wasm's 4 GB heap.
    let frozenBackbone: tf.LayersModel | null = null;
    // splitHead adds a node to every head layer, so the model is split once and the parts shared.
    let split: ReturnType<typeof splitHead> | null = null;
    const getSplit = () => {
      if (!split) {
        split = splitHead(model);
        // Re-applying the head layers to the new input gives each a second reference: the head
        // sub-model is disposed before the model (finally below), or the model's dispose() leaves
        // the head's weights allocated (8 tensors per run). The extractor only views the model's
        // own graph and holds no extra reference.
        disposables.push(split.head);
      }
      return split;
    };
    let trainForward: Forward = (x, training) => forward(x, training);
    let trainCache: FeatureCache | null = null;
    let valCache: FeatureCache | null = null;
    if (cached) {
      const t0 = performance.now();
      const { extractor, head } = getSplit();
      const eopts = { root, batchSize: tcfg.batchSize, imageSize: data.imageSize, report };
      try {
        const calibrated = await calibrateBatchNorm(
          extractor,
          (async function* () {
            for await (const b of batches(scanned.splits.train, eopts)) yield tf.tensor4d(b.xs, b.shape);
          })(),
          yieldToEventLoop,
        );
        log("BatchNorm running statistics recalibrated on the training images", { batches: calibrated });
        trainCache = await collectFeatures(extractor, scanned.splits.train, eopts);
        valCache = await collectFeatures(extractor, scanned.splits.val, eopts);
      } catch (err) {
        throw isHeapError(err) ? guard("feature caching")(err) : err;
      }
      forward = (x, training) => head.apply(x, { training }) as tf.Tensor2D;
      if (!resume && !opts.initFrom) {
        const sample = tf.tensor2d(trainCache.feats, [trainCache.labels.length, trainCache.dim]);
        const layers = initHeadFromData(head, sample);
        sample.dispose();
        setLogitsToPrior(
          head,
          trainCounts.map((n, c) => n * (weights[c] ?? 1)),
        );
        log("head initialised from the data (each hidden unit centred and scaled on the cached features)", {
          layers,
        });
      }
      const secs = (performance.now() - t0) / 1000;
      log(
        "cached backbone features once (frozen backbone, inference-mode BatchNorm); the head now trains on them",
        {
          images: trainCache.labels.length + valCache.labels.length,
          featureDim: trainCache.dim,
          seconds: Number(secs.toFixed(2)),
          imagesPerSec: Number(((trainCache.labels.length + valCache.labels.length) / secs).toFixed(1)),
        },
      );
    }

    if (!cached && stage.kind === "fe") {
      const { extractor, head } = getSplit();
      frozenBackbone = extractor;
      trainForward = (x, training) => head.apply(x, { training }) as tf.Tensor2D;
    }

    if (!cached && opts.initFrom && !resume) {
      // A head trained on uninformative features (FE on a random backbone) can collapse onto the
      // class prior with every unit off; FT could then never move the backbone. Revive such units.
      try {
        const { extractor, head } = getSplit();
        // The split is listed class by class: sample across all classes.
        const pick = [...scanned.splits.train];
        shuffleInPlace(pick, createRng(mixSeed(config.seed, 0x4ead)));
        const sample = await collectFeatures(extractor, pick.slice(0, HEAD_SAMPLE), {
          root,
          batchSize: tcfg.batchSize,
          imageSize: data.imageSize,
          report: { skipped: [] },
        });
        const feats = tf.tensor2d(sample.feats, [sample.labels.length, sample.dim]);
        const layers = reviveDeadHeadUnits(head, feats, config.seed);
        feats.dispose();
        const revived = layers.reduce((a, l) => a + (l.revived ?? 0), 0);
        if (revived > 0) log("revived dead head units (off for every sampled training image)", { layers });
      } catch (err) {
        throw isHeapError(err) ? guard("head check")(err) : err;
      }
    }

    const early = new EarlyStopping(tcfg.earlyStopping.patience, 0, resume?.earlyStopping);
    const plateau = new ReduceLROnPlateau(
      tcfg.learningRate,
      { factor: tcfg.plateau.factor, patience: tcfg.plateau.patience, minLr: tcfg.plateau.minLr },
      resume?.plateau,
    );
    const best = new BestTracker(resume?.best);
    let bestCheckpoint: BestCheckpoint | null = resume?.bestCheckpoint ?? null;
    const history: EpochMetrics[] = [...(resume?.history ?? [])];
    let globalStep = resume?.globalStep ?? 0;
    let stopped = resume?.stopped ?? false;

    // Epochs finished before a crash but never reported reach the caller now, exactly once.
    if (resume) {
      for (const m of history.filter((h) => h.epoch > resume.reportedThrough)) {
        await opts.onEpoch?.(m);
        await markReported(runDir, m.epoch);
      }
    }

    const trainItems = scanned.splits.train;
    const nTrain = cached ? (trainCache as FeatureCache).labels.length : trainItems.length;
    const fullBatches = Math.ceil(nTrain / tcfg.batchSize);
    const stepsPerEpoch = Math.min(fullBatches, tcfg.maxBatchesPerEpoch ?? fullBatches);
    const warmupSteps = tcfg.warmupEpochs * stepsPerEpoch;
    const firstEpoch = (resume?.epoch ?? 0) + 1;

    for (let epoch = firstEpoch; epoch <= tcfg.epochs && !stopped; epoch++) {
      const t0 = performance.now();
      let source: AsyncIterable<ImageBatch> | Iterable<ImageBatch>;
      if (cached) {
        const order = Array.from({ length: nTrain }, (_, i) => i);
        shuffleInPlace(order, createRng(mixSeed(config.seed, epoch, 0x5f1e)));
        source = featureBatches(trainCache as FeatureCache, tcfg.batchSize, order);
      } else {
        source = batches(trainItems, {
          batchSize: tcfg.batchSize,
          imageSize: data.imageSize,
          root,
          shuffle: true,
          seed: config.seed,
          epoch,
          augment: data.augment,
          report,
        });
      }
      let lossSum = 0;
      let weightSum = 0;
      let correct = 0;
      let seen = 0;
      let batchIdx = 0;
      for await (const b of source) {
        if (batchIdx >= stepsPerEpoch) break;
        if (opts.shouldStop?.()) throw new TrainingCancelledError(epoch);
        optimizer.lr = plateau.state.lr * warmupFactor(globalStep, warmupSteps);
        // tfjs' seeded dropout draws the same mask on every call; a per-step seed restores fresh
        // masks while keeping runs reproducible (and resumable: it depends only on the step).
        dropouts.forEach((d, i) => {
          d.seed = mixSeed(config.seed, globalStep, i, 0xd0);
        });
        let stats: Float32Array | Int32Array;
        let predicted: Int32Array | Float32Array;
        try {
          const out = tf.tidy(() => {
            const clean = toInput(b, cached);
            // Seeded by step, like dropout: reproducible and the same after a resume.
            const input =
              inputNoise > 0
                ? tf.add(
                    clean,
                    tf.randomNormal(
                      clean.shape,
                      0,
                      inputNoise,
                      "float32",
                      mixSeed(config.seed, globalStep, 0x4e),
                    ),
                  )
                : clean;
            const backbone = frozenBackbone;
            const x = backbone
              ? tf.tidy(() => backbone.apply(input, { training: true }) as tf.Tensor)
              : input;
            const y = tf.tensor1d(b.ys, "int32");
            let pred: tf.Tensor | null = null;
            let parts: tf.Tensor | null = null;
            const { value, grads } = tf.variableGrads(() => {
              const logits = trainForward(x, true);
              const ce = weightedCrossEntropy(logits, y, classWeights);
              pred = tf.keep(tf.argMax(logits, 1));
              parts = tf.keep(tf.stack([ce.weightedSum, ce.weightSum]));
              return ce.loss;
            }, varList);
            optimizer.applyGradients(grads);
            tf.dispose([value, ...Object.values(grads)]);
            return [pred as unknown as tf.Tensor, parts as unknown as tf.Tensor] as const;
          });
          predicted = (await out[0].data()) as Int32Array;
          stats = (await out[1].data()) as Float32Array;
          tf.dispose([...out]);
        } catch (err) {
          throw isHeapError(err) ? guard(`training step (epoch ${epoch})`)(err) : err;
        }
        lossSum += stats[0] as number;
        weightSum += stats[1] as number;
        for (let i = 0; i < b.ys.length; i++) if (predicted[i] === b.ys[i]) correct++;
        seen += b.ys.length;
        globalStep++;
        batchIdx++;
        opts.onBatch?.(batchIdx, stepsPerEpoch);
        await yieldToEventLoop();
      }
      if (seen === 0) throw new Error(`epoch ${epoch}: no training images could be read (see skipped files)`);
      const trainSecs = (performance.now() - t0) / 1000;

      const valSource = cached
        ? featureBatches(
            valCache as FeatureCache,
            tcfg.batchSize,
            Array.from({ length: (valCache as FeatureCache).labels.length }, (_, i) => i),
          )
        : batches(scanned.splits.val, { batchSize: tcfg.batchSize, imageSize: data.imageSize, root, report });
      const val = await predictSplit(
        forward,
        valSource,
        cached,
        classWeights,
        guard(`validation (epoch ${epoch})`),
      );
      if (val.labels.length === 0) throw new Error("no validation images could be read");
      const valPred = val.probs.map(argmaxRow);
      const prf = precisionRecallF1Support(val.labels, valPred, classNames.length);
      const valAcc = valPred.reduce((a, p, i) => a + (p === val.labels[i] ? 1 : 0), 0) / valPred.length;

      const metrics: EpochMetrics = {
        epoch,
        lr: optimizer.lr,
        train: { loss: lossSum / weightSum, accuracy: correct / seen },
        val: {
          loss: val.loss,
          accuracy: valAcc,
          precision: prf.weighted.precision,
          recall: prf.weighted.recall,
          f1: prf.weighted.f1,
        },
        durationMs: Math.round(performance.now() - t0),
        imagesPerSec: Number((seen / trainSecs).toFixed(2)),
      };

      if (best.update(epoch, metrics.val.f1)) {
        const saved = await saveCheckpoint(model, path.join(runDir, BEST_CHECKPOINT_DIR));
        bestCheckpoint = {
          dir: path.join(runDir, BEST_CHECKPOINT_DIR),
          sha256: saved.sha256,
          sizeBytes: saved.sizeBytes,
          epoch,
        };
      }
      stopped = early.update(metrics.val.loss);
      plateau.step(metrics.val.loss);
      history.push(metrics);

      await writeResumeState(runDir, model, optimizer, {
        version: 1,
        configHash: hash,
        epoch,
        globalStep,
        earlyStopping: early.state,
        plateau: plateau.state,
        best: best.state,
        bestCheckpoint,
        stopped,
        history,
      });
      log(`epoch ${epoch}/${tcfg.epochs}`, {
        lr: metrics.lr,
        trainLoss: Number(metrics.train.loss.toFixed(4)),
        trainAcc: Number(metrics.train.accuracy.toFixed(4)),
        valLoss: Number(metrics.val.loss.toFixed(4)),
        valAcc: Number(metrics.val.accuracy.toFixed(4)),
        valF1: Number(metrics.val.f1.toFixed(4)),
        best: best.state.bestEpoch === epoch,
        seconds: Number((metrics.durationMs / 1000).toFixed(1)),
        imagesPerSec: metrics.imagesPerSec,
        ...(stopped ? { earlyStop: `val loss did not improve for ${early.patience} epochs` } : {}),
        ...(plateau.state.lr !== metrics.lr && !stopped ? { nextLr: plateau.state.lr } : {}),
      });
      await opts.onEpoch?.(metrics);
      await markReported(runDir, epoch);
    }

    if (!bestCheckpoint) throw new Error("no epoch completed, so there is no checkpoint to evaluate");
    const epochsRun = history.length;
    const stoppedEarly = stopped && epochsRun < tcfg.epochs;

    // The test split is scored with the saved best checkpoint, as reloaded from disk, on images.
    const bestModel = await loadCheckpoint(bestCheckpoint.dir);
    disposables.push(bestModel);
    const test = await predictSplit(
      (x) => bestModel.apply(x, { training: false }) as tf.Tensor2D,
      batches(scanned.splits.test, { batchSize: tcfg.batchSize, imageSize: data.imageSize, root, report }),
      false,
      classWeights,
      guard("test evaluation"),
    );
    if (test.labels.length === 0) throw new Error("no test images could be read");
    const evaluation = evaluateClassifier(test.labels, test.probs, classNames);
    const predictions: Prediction[] = test.labels.map((label, i) => ({
      path: test.paths[i] as string,
      label,
      predicted: argmaxRow(test.probs[i] as number[]),
      probs: test.probs[i] as number[],
    }));
    log("test evaluation (best checkpoint)", {
      bestEpoch: bestCheckpoint.epoch,
      accuracy: Number(evaluation.accuracy.toFixed(4)),
      f1: Number(evaluation.f1.toFixed(4)),
      microAp: Number(evaluation.microAp.toFixed(4)),
      skipped: report.skipped.length,
    });

    return {
      bestEpoch: best.state.bestEpoch,
      bestValF1: best.state.bestValue,
      epochsRun,
      stoppedEarly,
      history,
      test: evaluation,
      predictions,
      bestCheckpoint,
      skipped: report.skipped,
      classNames,
      backend: tf.getBackend(),
      cachedFeatures: cached,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    for (const d of disposables) d.dispose();
    model.dispose();
  }
}

export type { ResumeState };
