import * as tf from "@tensorflow/tfjs";
import { ADAMW_KERNEL, type AdamWStepAttrs } from "../backend/kernels/adamw.js";

/** tfjs types this as a map of Variables, but gradients are plain tensors (as variableGrads returns). */
type GradientsArg = tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[];
type SuperArg = Parameters<tf.AdamOptimizer["applyGradients"]>[0];

/**
 * tf.AdamOptimizer's private state (tfjs-core 4.22, pinned by the lockfile), which the fused step
 * keeps in the same places so getWeights / setWeights (resume state, checkpoints) see no difference.
 */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
}

export interface AdamWOptions {
  learningRate: number;
  /** PyTorch default 0.01. */
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  /** PyTorch default 1e-8 (tfjs' Adam would take the backend epsilon, 1e-7). */
  epsilon?: number;
  /**
   * Which variables get weight decay, by variable name. Default: every variable that receives a
   * gradient, because torch.optim.AdamW with default param groups (what the original study used)
   * decays biases and normalisation parameters too.
   */
  decay?: (variableName: string) => boolean;
}

/**
 * AdamW as in torch.optim.AdamW (Loshchilov & Hutter): p <- p * (1 - lr * wd) first, then the
 * ordinary Adam step with the same lr. tf.train has no AdamW, and folding decay into the gradient
 * (L2) is not equivalent under Adam's per-parameter scaling.
 *
 * The learning rate is mutable so schedules (warm-up, reduce-on-plateau) can change it between steps
 * without rebuilding the optimizer and losing its moments.
 */
export class AdamW extends tf.AdamOptimizer {
  static override get className(): string {
    return "XnnAdamW";
  }

  weightDecay: number;
  private readonly decayFilter: (variableName: string) => boolean;

  constructor(opts: AdamWOptions) {
    const beta1 = opts.beta1 ?? 0.9;
    const beta2 = opts.beta2 ?? 0.999;
    super(opts.learningRate, beta1, beta2, opts.epsilon ?? 1e-8);
    if (!(opts.learningRate >= 0))
      throw new RangeError(`learningRate must be >= 0, got ${opts.learningRate}`);
    this.weightDecay = opts.weightDecay ?? 0.01;
    if (!(this.weightDecay >= 0)) throw new RangeError(`weightDecay must be >= 0, got ${this.weightDecay}`);
    this.decayFilter = opts.decay ?? (() => true);
  }

  get lr(): number {
    return this.learningRate;
  }

  set lr(value: number) {
    if (!(value >= 0) || !Number.isFinite(value))
      throw new RangeError(`learning rate must be finite and >= 0, got ${value}`);
    this.learningRate = value;
  }

  override applyGradients(variableGradients: GradientsArg): void {
    if (tf.getKernel(ADAMW_KERNEL, tf.getBackend())) {
      this.applyFused(variableGradients);
      return;
    }
    const factor = 1 - this.learningRate * this.weightDecay;
    if (factor !== 1) {
      const entries = Array.isArray(variableGradients)
        ? variableGradients.map((g) => [g.name, g.tensor] as const)
        : Object.entries(variableGradients as Record<string, tf.Tensor | null>);
      tf.tidy(() => {
        for (const [name, grad] of entries) {
          // Like PyTorch, a parameter without a gradient this step is neither decayed nor stepped.
          if (grad == null || !this.decayFilter(name)) continue;
          const v = tf.engine().registeredVariables[name];
          if (!v) throw new Error(`AdamW: no registered variable named '${name}'`);
          v.assign(tf.mul(v, factor));
        }
      });
    }
    super.applyGradients(variableGradients as SuperArg);
  }

  /**
   * The step above with one kernel per variable (backend/kernels/adamw.ts) where the backend has
   * it: the same values bit for bit (the decay, then tf.AdamOptimizer.applyGradients' operations in
   * its order), the moments kept in tf.AdamOptimizer's own slots.
   */
  private applyFused(variableGradients: GradientsArg): void {
    const self = this as unknown as AdamInternals;
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((g) => g.name)
      : Object.keys(variableGradients);
    const decay = 1 - this.learningRate * this.weightDecay;
    const fr = Math.fround;
    tf.tidy(() => {
      // tfjs computes 1 - beta^t in float32 from its float32 accumulators.
      const oma1 = fr(1 - (self.accBeta1.dataSync()[0] as number));
      const oma2 = fr(1 - (self.accBeta2.dataSync()[0] as number));
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        if (!value) throw new Error(`AdamW: no registered variable named '${name}'`);
        self.accumulatedFirstMoment[i] ??= {
          originalName: `${name}/m`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        };
        self.accumulatedSecondMoment[i] ??= {
          originalName: `${name}/v`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        };
        const grad = Array.isArray(variableGradients)
          ? variableGradients[i]?.tensor
          : (variableGradients as Record<string, tf.Tensor | null>)[name];
        // Like PyTorch, a parameter without a gradient this step is neither decayed nor stepped.
        if (grad == null) return;
        const m = self.accumulatedFirstMoment[i].variable;
        const v = self.accumulatedSecondMoment[i].variable;
        const attrs: AdamWStepAttrs = {
          factor: decay !== 1 && this.decayFilter(name) ? fr(decay) : 1,
          beta1: fr(this.beta1),
          c1: fr(1 - this.beta1),
          beta2: fr(this.beta2),
          c2: fr(1 - this.beta2),
          oma1,
          oma2,
          epsilon: fr(this.epsilon),
          negLr: fr(-this.learningRate),
        };
        const [p2, m2, v2] = tf
          .engine()
          .runKernel(
            ADAMW_KERNEL,
            { p: value, m, v, g: grad },
            attrs as unknown as tf.NamedAttrMap,
          ) as tf.Tensor[];
        m.assign(m2 as tf.Tensor);
        v.assign(v2 as tf.Tensor);
        value.assign(p2 as tf.Tensor);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, this.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), weightDecay: this.weightDecay };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new (cls as unknown as new (o: AdamWOptions) => T)({
      learningRate: config.learningRate as number,
      beta1: config.beta1 as number,
      beta2: config.beta2 as number,
      epsilon: config.epsilon as number,
      weightDecay: config.weightDecay as number,
    });
  }
}

tf.serialization.registerClass(AdamW);
