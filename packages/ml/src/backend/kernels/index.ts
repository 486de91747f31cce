export { CLIP_GRAD_KERNEL, RELU_GRAD_KERNEL } from "./activationGrads.js";
export { clearWasmFilterCache } from "./filterCache.js";
export {
  assertKernelsInstalled,
  installKernels,
  kernelOwners,
  kernelsInstalledFor,
  swapKernel,
  wasmKernelConfigs,
} from "./installKernels.js";
export { DEFAULT_WASM_KERNEL_OPTIONS, type WasmKernelOptions } from "./options.js";
export { POINTWISE_INPUT_GRAD_KERNEL } from "./pointwiseInputGrad.js";
export { setWasmKernelOptions } from "./setWasmKernelOptions.js";
