import type { TensorInfo } from "@tensorflow/tfjs";
import { wasmKernelOptions } from "./options.js";
import { callShipped, f32, free, heapOffset, simdFor, wasmKernel } from "./wasmKernel.js";

/**
 * FusedBatchNorm for the wasm backend, four channels at a time (batchNorm in simdDot.ts). The
 * shipped kernel is a scalar C loop that takes a modulo per element for each of its four
 * per-channel operands: it was a quarter of the kernel time of a MobileNetV2 FT epoch at 64 px
 * (`pnpm bench profile`), where BatchNorm runs on batch statistics. This one evaluates what the
 * shipped kernel compiles to (read from its wasm: offset + f32((x - mean) * scale) / sqrt(variance +
 * eps), the division and the addition in float64), so its outputs are the shipped kernel's bit for
 * bit (batchNorm.test.ts) and no trained model changes with it. Per-channel scale and offset with a
 * channel count that is a multiple of 4 only (every BatchNormalization layer of the model zoo);
 * anything else, or a runtime without wasm SIMD, goes to the shipped kernel. (Without scale or
 * offset the shipped kernel reads tensor id 0 in their place, a tfjs bug; those calls stay there.)
 */
export const fusedBatchNormConfig = wasmKernel<"x" | "mean" | "variance", { varianceEpsilon: number }>(
  "FusedBatchNorm",
  ["x", "mean", "variance"],
  ({ inputs: { x, mean, variance }, attrs, backend, args }) => {
    const offset = args.inputs.offset as TensorInfo | undefined;
    const scale = args.inputs.scale as TensorInfo | undefined;
    const C = x.shape[x.shape.length - 1] as number;
    const perChannel = (t: TensorInfo | undefined): t is TensorInfo =>
      t !== undefined && t.dtype === "float32" && t.shape.length === 1 && t.shape[0] === C;
    const simd = simdFor(backend);
    if (
      !wasmKernelOptions.batchNorm ||
      !simd ||
      x.dtype !== "float32" ||
      x.shape.length < 2 ||
      C % 4 !== 0 ||
      !perChannel(mean) ||
      !perChannel(variance) ||
      !perChannel(offset) ||
      !perChannel(scale)
    ) {
      return callShipped("FusedBatchNorm", args);
    }
    // The float64 per-channel operands: sqrt(variance + eps) in float32 as the shipped kernel
    // computes it, and the offset, both widened.
    const nf = backend.makeOutput([2 * C], "float32");
    const off64 = backend.makeOutput([2 * C], "float32");
    const out = backend.makeOutput(x.shape, "float32");
    // Views after the last allocation (a heap growth detaches earlier ones).
    const heap = f32(backend, nf).buffer;
    if (heapOffset(backend, nf) % 8 !== 0 || heapOffset(backend, off64) % 8 !== 0) {
      // Never seen (the backend's allocator aligns to 8 or more), but a Float64Array needs it.
      free(backend, nf, off64, out);
      return callShipped("FusedBatchNorm", args);
    }
    const nfv = new Float64Array(heap, heapOffset(backend, nf), C);
    const ov = new Float64Array(heap, heapOffset(backend, off64), C);
    const v = f32(backend, variance);
    const o = f32(backend, offset);
    const eps = Math.fround(attrs.varianceEpsilon);
    for (let c = 0; c < C; c++) {
      nfv[c] = Math.fround(Math.sqrt(Math.fround((v[c] as number) + eps)));
      ov[c] = o[c] as number;
    }
    const size = x.shape.reduce((a, b) => a * b, 1);
    simd.batchNorm(
      heapOffset(backend, x),
      heapOffset(backend, out),
      heapOffset(backend, mean),
      heapOffset(backend, scale),
      heapOffset(backend, nf),
      heapOffset(backend, off64),
      size / C,
      C / 4,
    );
    free(backend, nf, off64);
    return out;
  },
);
