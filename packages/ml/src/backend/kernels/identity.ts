import { callShipped, wasmKernel } from "./wasmKernel.js";

/**
 * Identity for the wasm backend, without a copy. The engine clones (Identity) every tensor a
 * gradient saves for the backward pass, and the shipped wasm Identity copies the buffer: 464-642
 * full-activation copies per MobileNetV2 input-gradient batch, ~10% of it. Tensor data is
 * immutable, so the clone can share the buffer by reference count, as the wasm Reshape and the cpu
 * backend's Identity already do.
 */
export const identityConfig = wasmKernel<"x">("Identity", ["x"], ({ inputs: { x }, backend, args }) => {
  if (x.dtype === "string") return callShipped("Identity", args);
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
});
