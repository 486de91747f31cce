export type { BackendChoice, BackendKind, BackendLog } from "./initBackend.js";
export { initBackend } from "./initBackend.js";
export { registerWasmGradKernels, wasmGradKernelConfigs } from "./wasmGradKernels.js";
