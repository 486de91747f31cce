import * as tf from "@tensorflow/tfjs";
import { POINTWISE_INPUT_GRAD_KERNEL, RELU_GRAD_KERNEL } from "../backend/kernels/index.js";

export type FusedActivation = "linear" | "relu" | "relu6";

export interface FusedConvArgs {
  name?: string;
  trainable?: boolean;
  dtype?: tf.DataType;
  /** "conv": Conv2D (kernel [kh, kw, ci, filters]); "depthwise": DepthwiseConv2D ([kh, kw, ci, depthMultiplier]). */
  kind: "conv" | "depthwise";
  filters?: number;
  depthMultiplier?: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: "same" | "valid";
  useBias: boolean;
  activation: FusedActivation;
}

/** The largest float32 below 6: relu6's output is below 6 exactly where its input is. */
const BELOW_SIX = 6 - 2 ** -21;

/**
 * Conv2D or DepthwiseConv2D + bias + (relu | relu6) as ONE kernel forward (wasm FusedConv2D /
 * FusedDepthwiseConv2D: XNNPACK applies bias and clamp in registers) and, for the gradient w.r.t.
 * its input, one activation-mask kernel plus one input-gradient kernel. tfjs' own fused ops refuse
 * to fuse a non-linear activation while a gradient is being recorded (they fall back to conv, add,
 * activation: three passes over the output each way), tf.layers' DepthwiseConv2D never fuses its
 * bias, and tfjs' fused-conv gradient always computes the bias gradient too. foldBatchNorm puts this
 * layer in place of conv [+ folded batch norm] [+ ReLU/ReLU6] for explanation.
 *
 * Gradients flow to the input only: the weights are constants here (no weight gradient, so not for
 * training). The activation's derivative is taken from the output: relu passes dy where y > 0 (the
 * same as x > 0), relu6 where 0 < y < 6 (tf's relu6 gradient uses 0 < x <= 6: they differ only where
 * the pre-activation is exactly 6.0).
 */
export class FusedConv extends tf.layers.Layer {
  static className = "XnnFusedConv";
  readonly kind: "conv" | "depthwise";
  readonly filters: number | undefined;
  readonly depthMultiplier: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: "same" | "valid";
  readonly useBias: boolean;
  readonly activation: FusedActivation;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: FusedConvArgs) {
    super({ name: args.name, trainable: false, dtype: args.dtype });
    this.kind = args.kind;
    this.filters = args.filters;
    this.depthMultiplier = args.depthMultiplier ?? 1;
    this.kernelSize = [args.kernelSize[0], args.kernelSize[1]];
    this.strides = [args.strides[0], args.strides[1]];
    this.padding = args.padding;
    this.useBias = args.useBias;
    this.activation = args.activation;
    if (this.kind === "conv" && !this.filters) throw new Error(`FusedConv '${this.name}': filters missing`);
  }

  private outChannels(inChannels: number): number {
    return this.kind === "conv" ? (this.filters as number) : inChannels * this.depthMultiplier;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const ci = shape[shape.length - 1];
    if (shape.length !== 4 || ci == null) {
      throw new Error(
        `FusedConv '${this.name}' expects a rank-4 NHWC input with known channels, got [${shape}]`,
      );
    }
    const [kh, kw] = this.kernelSize;
    const last = this.kind === "conv" ? (this.filters as number) : this.depthMultiplier;
    const zeros = tf.initializers.zeros();
    this.kernel = this.addWeight(
      this.kind === "conv" ? "kernel" : "depthwise_kernel",
      [kh, kw, ci, last],
      "float32",
      zeros,
      undefined,
      false,
    );
    if (this.useBias)
      this.bias = this.addWeight("bias", [this.outChannels(ci)], "float32", zeros, undefined, false);
    this.built = true;
  }

  /** The layer's filter and bias (the variables' own tensors, not copies: never dispose them). */
  filterAndBias(): { filter: tf.Tensor4D; bias: tf.Tensor1D | null } {
    if (!this.kernel) throw new Error(`FusedConv '${this.name}' read before build`);
    return {
      filter: this.kernel.read() as tf.Tensor4D,
      bias: (this.bias?.read() as tf.Tensor1D | undefined) ?? null,
    };
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const [n, h, w, c] = shape;
    const [kh, kw] = this.kernelSize;
    const out = (size: number | null | undefined, k: number, s: number): number | null =>
      size == null ? null : this.padding === "same" ? Math.ceil(size / s) : Math.floor((size - k) / s) + 1;
    return [
      n ?? null,
      out(h, kh, this.strides[0]),
      out(w, kw, this.strides[1]),
      this.outChannels(c as number),
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x0 = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!x0 || !this.kernel) throw new Error(`FusedConv '${this.name}' called before build or without input`);
    const filter = this.kernel.read();
    const bias = this.bias?.read();
    const conv = this.kind === "conv";
    const common = {
      strides: this.strides,
      pad: this.padding,
      dataFormat: "NHWC",
      dilations: [1, 1],
      dimRoundingMode: undefined,
    };
    const activation = this.activation;
    const pointwise =
      conv &&
      this.kernelSize[0] === 1 &&
      this.kernelSize[1] === 1 &&
      this.strides[0] === 1 &&
      this.strides[1] === 1;
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
      const inputs: tf.NamedTensorMap = bias ? { x, filter, bias } : { x, filter };
      const y = tf.engine().runKernel(conv ? "FusedConv2D" : "FusedDepthwiseConv2D", inputs, {
        ...common,
        activation,
        leakyreluAlpha: 0,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      save(activation === "linear" ? [] : [y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          if (
            pointwise &&
            tf.getKernel(POINTWISE_INPUT_GRAD_KERNEL, tf.getBackend()) &&
            dy.dtype === "float32"
          ) {
            // Mask and input gradient of a 1x1 convolution in one kernel (a GEMM where that pays).
            const y = saved[0] as tf.Tensor;
            const inputs: tf.NamedTensorMap = activation === "linear" ? { dy, filter } : { dy, filter, y };
            const hi =
              activation === "linear" ? null : activation === "relu6" ? BELOW_SIX : Number.POSITIVE_INFINITY;
            return [
              tf.engine().runKernel(POINTWISE_INPUT_GRAD_KERNEL, inputs, {
                inputShape: x.shape,
                hi,
              } as unknown as tf.NamedAttrMap) as tf.Tensor,
            ];
          }
          const g = activation === "linear" ? dy : activationGrad(dy, saved[0] as tf.Tensor, activation);
          const dx = tf
            .engine()
            .runKernel(
              conv ? "Conv2DBackpropInput" : "DepthwiseConv2dNativeBackpropInput",
              { dy: g, filter },
              {
                ...common,
                inputShape: x.shape,
              } as unknown as tf.NamedAttrMap,
            ) as tf.Tensor;
          return [dx];
        },
      };
    });
    return f(x0);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      kind: this.kind,
      filters: this.filters ?? null,
      depthMultiplier: this.depthMultiplier,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      useBias: this.useBias,
      activation: this.activation,
    };
  }
}
tf.serialization.registerClass(FusedConv);

/** dy masked by the activation's derivative, read off the activation's output y. */
export function activationGrad(dy: tf.Tensor, y: tf.Tensor, activation: "relu" | "relu6"): tf.Tensor {
  const hi = activation === "relu6" ? BELOW_SIX : Number.POSITIVE_INFINITY;
  if (tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) && dy.dtype === "float32") {
    // one pass: dy where 0 < y <= hi
    return tf
      .engine()
      .runKernel(RELU_GRAD_KERNEL, { dy, x: y }, { hi } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  return tf.tidy(() => tf.mul(dy, tf.cast(tf.logicalAnd(tf.greater(y, 0), tf.lessEqual(y, hi)), "float32")));
}
