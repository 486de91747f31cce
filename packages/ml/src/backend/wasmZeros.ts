import type * as tf from "@tensorflow/tfjs";

interface WasmBackendInternals {
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/**
 * A float32 tensor of zeros on the wasm heap, for kernels registered on the "wasm" backend. The
 * wasm backend has no makeTensorInfo; its kernels allocate their outputs with makeOutput. Call it
 * only with the backend a "wasm" kernel receives.
 */
export function wasmZeros(backend: unknown, shape: number[]): tf.TensorInfo {
  const b = backend as WasmBackendInternals;
  const out = b.makeOutput(shape, "float32");
  b.typedArrayFromHeap(out).fill(0);
  return out;
}
