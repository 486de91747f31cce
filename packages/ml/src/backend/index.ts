export { initBackend } from "./initBackend.js";
export type { BackendChoice, BackendKind, BackendLog } from "./initBackend.js";
export { registerWasmGradKernels, wasmGradKernelConfigs } from "./wasmGradKernels.js";
