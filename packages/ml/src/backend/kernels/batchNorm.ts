import type { TensorInfo } from "@tensorflow/tfjs";
import { wasmKernelOptions } from "./options.js";
import { callShipped, f32, free, run, type WasmBackendLike, wasmKernel } from "./wasmKernel.js";

/**
 * FusedBatchNorm for the wasm backend: y = x * a + b with per-channel a = scale / sqrt(var + eps)
 * and b = offset - mean * a, computed once per call for the C channels, then the backend's
 * broadcasting Multiply and Add (XNNPACK, SIMD). The shipped kernel is a scalar C loop that takes
 * a modulo per element for each of its four per-channel operands: it was a quarter of the kernel
 * time of a MobileNetV2 FT epoch at 64 px (`pnpm bench profile`), where BatchNorm runs on batch
 * statistics. Per-channel operands only (the layers' case); anything else goes to the shipped
 * kernel. Same function up to rounding (one multiply-add instead of subtract, multiply, multiply, add).
 */
export const fusedBatchNormConfig = wasmKernel<"x" | "mean" | "variance", { varianceEpsilon: number }>(
  "FusedBatchNorm",
  ["x", "mean", "variance"],
  ({ inputs: { x, mean, variance }, attrs, backend, args }) => {
    const offset = args.inputs.offset as TensorInfo | undefined;
    const scale = args.inputs.scale as TensorInfo | undefined;
    const C = x.shape[x.shape.length - 1] as number;
    const perChannel = (t: TensorInfo | undefined) =>
      t === undefined || (t.dtype === "float32" && t.shape.length === 1 && t.shape[0] === C);
    if (
      !wasmKernelOptions.batchNorm ||
      x.dtype !== "float32" ||
      x.shape.length < 2 ||
      !perChannel(mean) ||
      !perChannel(variance) ||
      !perChannel(offset) ||
      !perChannel(scale)
    ) {
      return callShipped("FusedBatchNorm", args);
    }
    const a = backend.makeOutput([C], "float32");
    const b = backend.makeOutput([C], "float32");
    // Views after the last allocation (a heap growth detaches earlier ones).
    const av = f32(backend, a);
    const bv = f32(backend, b);
    const m = f32(backend, mean);
    const v = f32(backend, variance);
    const o = offset ? f32(backend, offset) : null;
    const s = scale ? f32(backend, scale) : null;
    const eps = attrs.varianceEpsilon;
    for (let c = 0; c < C; c++) {
      const k = (s ? (s[c] as number) : 1) / Math.sqrt((v[c] as number) + eps);
      av[c] = k;
      bv[c] = (o ? (o[c] as number) : 0) - (m[c] as number) * k;
    }
    const scaled = run("Multiply", backend as WasmBackendLike, { a: x, b: a }, {});
    const y = run("Add", backend, { a: scaled, b }, {});
    free(backend, a, b, scaled);
    return y;
  },
);
