export type { BackendChoice, BackendKind, BackendLog } from "./initBackend.js";
export {
  backendInitCount,
  backendMemoryLimit,
  currentDevice,
  describeMemoryLimit,
  initBackend,
} from "./initBackend.js";
export {
  clearWasmFilterCache,
  DEFAULT_WASM_KERNEL_OPTIONS,
  kernelsInstalledFor,
  setWasmKernelOptions,
  type WasmKernelOptions,
} from "./kernels/index.js";
