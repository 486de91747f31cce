import * as tf from "@tensorflow/tfjs";

// tfjs does not export LayerArgs; these are the fields a (de)serialized GRN needs.
export interface GRNArgs {
  name?: string;
  trainable?: boolean;
  dtype?: tf.DataType;
  epsilon?: number;
}

/**
 * Global Response Normalization (ConvNeXt V2) for NHWC tensors:
 *   gx = ||x||_2 over (H, W) per channel; nx = gx / (mean_c(gx) + eps); y = gamma * (x * nx) + beta + x.
 * gamma and beta start at zero so a fresh block is the identity on this branch.
 */
export class GRN extends tf.layers.Layer {
  static className = "XnnGRN";
  readonly epsilon: number;
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;

  constructor(args: GRNArgs = {}) {
    super({ name: args.name, trainable: args.trainable, dtype: args.dtype });
    this.epsilon = args.epsilon ?? 1e-6;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    if (shape.length !== 4 || channels == null) {
      throw new Error(
        `GRN '${this.name}' expects a rank-4 NHWC input with known channels, got [${shape.join(", ")}]`,
      );
    }
    this.gamma = this.addWeight("gamma", [channels], "float32", tf.initializers.zeros());
    this.beta = this.addWeight("beta", [channels], "float32", tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!x || !this.gamma || !this.beta) throw new Error(`GRN '${this.name}' called before build`);
      // sqrt(sum(x^2)) instead of tf.norm: tf.norm's gradient at an all-zero channel is NaN.
      const gx = tf.sqrt(tf.add(tf.sum(tf.square(x), [1, 2], true), 1e-12));
      const nx = tf.div(gx, tf.add(tf.mean(gx, -1, true), this.epsilon));
      return tf.add(tf.add(tf.mul(this.gamma.read(), tf.mul(x, nx)), this.beta.read()), x);
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
// Registration makes tf.loadLayersModel able to rebuild ConvNeXt V2 checkpoints in any process
// that imports this module (the checkpoint module imports it for that reason).
tf.serialization.registerClass(GRN);

const NORMALIZATION_CLASSES = new Set(["BatchNormalization", "LayerNormalization"]);

/**
 * Layers whose parameters we never unfreeze in a stage. GRN is deliberately NOT here: its
 * gamma/beta are zero-initialised learned gains, and keeping them frozen at zero would silently
 * turn ConvNeXt V2 into V1.
 */
export function isNormalizationLayer(layer: tf.layers.Layer): boolean {
  return NORMALIZATION_CLASSES.has(layer.getClassName());
}

export function hasWeights(layer: tf.layers.Layer): boolean {
  return layer.weights.length > 0;
}
