import * as tf from "@tensorflow/tfjs";
import { type InitKind, seededInit } from "./init.js";

export type ST = tf.SymbolicTensor;

/** Small builders that force every layer to carry an explicit name and a seeded initializer. */
export class Builder {
  /**
   * zeroInit: skip random draws (tfjs truncated-normal costs ~100 ns/value) when only the graph
   * matters: `true` for every layer, `"backbone"` for all but the head (pretrained weights replace
   * the backbone's anyway; the head keeps its seeded init).
   */
  constructor(
    readonly seed: number,
    readonly zeroInit: boolean | "backbone" = false,
  ) {}

  private init(kind: InitKind, name: string) {
    const zero = this.zeroInit === true || (this.zeroInit === "backbone" && !name.startsWith("head_"));
    return zero ? tf.initializers.zeros() : seededInit(kind, this.seed, name);
  }

  conv(
    x: ST,
    name: string,
    o: {
      filters: number;
      kernel: number;
      strides?: number;
      padding?: "same" | "valid";
      useBias?: boolean;
      init?: InitKind;
    },
  ): ST {
    return tf.layers
      .conv2d({
        name,
        filters: o.filters,
        kernelSize: o.kernel,
        strides: o.strides ?? 1,
        padding: o.padding ?? "same",
        useBias: o.useBias ?? false,
        kernelInitializer: this.init(o.init ?? "he", name),
        biasInitializer: "zeros",
      })
      .apply(x) as ST;
  }

  depthwise(
    x: ST,
    name: string,
    o: { kernel: number; strides?: number; padding?: "same" | "valid"; useBias?: boolean; init?: InitKind },
  ): ST {
    return tf.layers
      .depthwiseConv2d({
        name,
        kernelSize: o.kernel,
        strides: o.strides ?? 1,
        padding: o.padding ?? "same",
        useBias: o.useBias ?? false,
        depthwiseInitializer: this.init(o.init ?? { depthwiseHe: o.kernel }, name),
        biasInitializer: "zeros",
      })
      .apply(x) as ST;
  }

  dense(x: ST, name: string, units: number, init: InitKind = "he"): ST {
    return tf.layers
      .dense({ name, units, kernelInitializer: this.init(init, name), biasInitializer: "zeros" })
      .apply(x) as ST;
  }

  bn(x: ST, name: string, epsilon = 1e-3): ST {
    // momentum 0.99 (not MobileNetV2's 0.999): from-scratch runs are short, and moving stats
    // that barely move make eval-mode predictions useless after a few hundred steps.
    return tf.layers.batchNormalization({ name, axis: -1, momentum: 0.99, epsilon }).apply(x) as ST;
  }

  ln(x: ST, name: string): ST {
    return tf.layers.layerNormalization({ name, axis: -1, epsilon: 1e-6 }).apply(x) as ST;
  }

  relu(x: ST, name: string, maxValue?: number): ST {
    return tf.layers.reLU({ name, ...(maxValue !== undefined ? { maxValue } : {}) }).apply(x) as ST;
  }

  act(x: ST, name: string, activation: "relu" | "gelu"): ST {
    return tf.layers.activation({ name, activation }).apply(x) as ST;
  }

  pad(x: ST, name: string, padding: [[number, number], [number, number]]): ST {
    return tf.layers.zeroPadding2d({ name, padding }).apply(x) as ST;
  }

  maxPool(x: ST, name: string, poolSize: number, strides: number): ST {
    return tf.layers.maxPooling2d({ name, poolSize, strides, padding: "valid" }).apply(x) as ST;
  }

  add(xs: ST[], name: string): ST {
    return tf.layers.add({ name }).apply(xs) as ST;
  }
}
