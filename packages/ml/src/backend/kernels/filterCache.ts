/**
 * Repacked filters, cached per source filter.
 *
 * The input gradient convolves dy with a rearranged filter (taps flipped,
 * [Ci, Co] blocks transposed, split by stride phase). Building it is a JS
 * loop, and XNNPACK packs the weights of every filter tensor it has not seen,
 * so a fresh sub-filter per call costs both every time (measured 15 vs 9 ms
 * for a batch-16 4x4x1280 -> 320 input gradient). The sub-filters are
 * therefore kept per source filter (a tensor's values never change while its
 * dataId lives), and the wasm Conv2D's own operator cache then keeps the packed
 * weights too. Explanation runs the same weights thousands of times; in
 * training every step has new weights, and an entry is freed together with
 * its source (see hookDisposal). The total is capped (LRU).
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { wasmKernelOptions } from "./options.js";
import { free, type WasmBackendLike } from "./wasmKernel.js";

/** The cap on cached bytes (LRU beyond it). */
export const FILTER_CACHE_MAX_BYTES = 64 << 20;
interface CachedFilter {
  t: TensorInfo;
  bytes: number;
}
/** source filter dataId -> (variant -> entry); Map order is LRU order. */
const filterCache = new Map<object, Map<string, CachedFilter>>();
let filterCacheBackend: WasmBackendLike | null = null;
let filterCacheBytes = 0;
const disposalHooked = new WeakSet<object>();

/** Frees every cached filter (each is also freed as soon as its source filter is). */
export function clearWasmFilterCache(): void {
  for (const source of [...filterCache.keys()]) dropEntries(source);
}

function dropEntries(source: object): void {
  const byKey = filterCache.get(source);
  if (!byKey) return;
  filterCache.delete(source);
  for (const e of byKey.values()) {
    filterCacheBytes -= e.bytes;
    filterCacheBackend?.disposeData(e.t.dataId);
  }
}

/**
 * Frees a source's cached filters the moment the backend frees the source's
 * buffer (its last reference is disposed), so nothing outlives its filter:
 * in training the old weights' entries go with the optimizer's update.
 */
function hookDisposal(backend: WasmBackendLike): void {
  if (disposalHooked.has(backend)) return;
  disposalHooked.add(backend);
  const original = backend.disposeData.bind(backend);
  backend.disposeData = (dataId: object, force?: boolean): boolean => {
    const freed = original(dataId, force);
    if (freed && filterCache.has(dataId)) dropEntries(dataId);
    return freed;
  };
}

/**
 * The filter built by `make` for (source filter, variant key), from the cache
 * when possible (and when the filterCache option is on). `release` must be
 * called when the caller is done with it (frees it unless the cache keeps it).
 */
export function cachedFilter(
  backend: WasmBackendLike,
  source: TensorInfo,
  key: string,
  make: () => TensorInfo,
): { t: TensorInfo; release: () => void } {
  const uncached = () => {
    const t = make();
    return { t, release: () => free(backend, t) };
  };
  if (!wasmKernelOptions.filterCache) return uncached();
  if (filterCacheBackend !== backend) {
    // A new backend instance: the old one's buffers are gone with it.
    filterCache.clear();
    filterCacheBytes = 0;
    filterCacheBackend = backend;
  }
  hookDisposal(backend);
  const byKey = filterCache.get(source.dataId);
  const hit = byKey?.get(key);
  if (byKey && hit) {
    // most recently used last
    filterCache.delete(source.dataId);
    filterCache.set(source.dataId, byKey);
    return { t: hit.t, release: () => {} };
  }
  const made = uncached();
  const bytes = 4 * tf.util.sizeFromShape(made.t.shape);
  if (bytes > FILTER_CACHE_MAX_BYTES / 4) return made;
  while (filterCacheBytes + bytes > FILTER_CACHE_MAX_BYTES && filterCache.size > 0) {
    dropEntries(filterCache.keys().next().value as object);
  }
  // Read the source's entries again: the loop may have evicted (and freed) them, and a stale map
  // put back would hand out freed filters.
  const entries = filterCache.get(source.dataId) ?? new Map<string, CachedFilter>();
  entries.set(key, { t: made.t, bytes });
  filterCache.delete(source.dataId);
  filterCache.set(source.dataId, entries);
  filterCacheBytes += bytes;
  return { t: made.t, release: () => {} };
}
