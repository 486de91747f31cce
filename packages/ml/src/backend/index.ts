export type { BackendChoice, BackendKind, BackendLog } from "./initBackend.js";
export { backendInitCount, currentDevice, describeMemoryLimit, initBackend } from "./initBackend.js";
export { registerWasmGradKernels, wasmGradKernelConfigs } from "./wasmGradKernels.js";
