import { clearWasmFilterCache } from "./filterCache.js";
import { type WasmKernelOptions, wasmKernelOptions } from "./options.js";

/**
 * Changes some of the wasm kernel options (see WasmKernelOptions) and returns all of them as they
 * were, so a test can put them back. Changing `filterCache` frees everything cached, so cached and
 * uncached runs start from the same state.
 */
export function setWasmKernelOptions(change: Partial<WasmKernelOptions>): WasmKernelOptions {
  const before = { ...wasmKernelOptions };
  Object.assign(wasmKernelOptions, change);
  if (change.filterCache !== undefined) clearWasmFilterCache();
  return before;
}
