import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { cachedFilter, clearWasmFilterCache, FILTER_CACHE_MAX_BYTES } from "./filterCache.js";
import { useWasmWithCpuReference } from "./testing/parity.js";
import type { WasmBackendLike } from "./wasmKernel.js";

describe("cachedFilter (the wasm kernels' repacked-filter cache)", () => {
  beforeAll(async () => {
    await useWasmWithCpuReference();
    await tf.setBackend("wasm");
  });
  afterEach(() => clearWasmFilterCache());

  const backendOf = () => tf.backend() as unknown as WasmBackendLike;
  /** A repacked "filter" of `floats` values all equal to `v`, counting how often it is built. */
  const maker = (floats: number, v: number, built: { n: number }) => () => {
    built.n++;
    const b = backendOf();
    const t = b.makeOutput([floats], "float32");
    (b.typedArrayFromHeap(t) as Float32Array).fill(v);
    return t;
  };

  it("a source whose own entries the LRU evicts while it adds a variant still hands out live filters", () => {
    const backend = backendOf();
    // Each entry a quarter of the cap: source A's first variant and three others fill it, then A's
    // second variant evicts the least recently used source, A itself.
    const floats = Math.floor(FILTER_CACHE_MAX_BYTES / 4 / 4);
    const a = tf.zeros([1]);
    const others = [tf.zeros([1]), tf.zeros([1]), tf.zeros([1])];
    const builtA1 = { n: 0 };
    const info = (t: tf.Tensor) => t as unknown as tf.TensorInfo;
    cachedFilter(backend, info(a), "v1", maker(floats, 1, builtA1)).release();
    for (const [i, o] of others.entries())
      cachedFilter(backend, info(o), "v1", maker(floats, 2 + i, { n: 0 })).release();
    const a2 = cachedFilter(backend, info(a), "v2", maker(floats, 9, { n: 0 }));
    a2.release();
    // A's first variant again: rebuilt if it was evicted, and in any case a live buffer with its values.
    const a1 = cachedFilter(backend, info(a), "v1", maker(floats, 1, builtA1));
    const values = backend.typedArrayFromHeap(a1.t) as Float32Array;
    expect(values.length).toBe(floats);
    expect(values[0]).toBe(1);
    expect(values[floats - 1]).toBe(1);
    expect(builtA1.n).toBe(2);
    a1.release();
    tf.dispose([a, ...others]);
  });

  it("hits the cache for the same source and variant", () => {
    const backend = backendOf();
    const a = tf.zeros([1]);
    const built = { n: 0 };
    const first = cachedFilter(backend, a as unknown as tf.TensorInfo, "v", maker(16, 3, built));
    const second = cachedFilter(backend, a as unknown as tf.TensorInfo, "v", maker(16, 3, built));
    expect(second.t).toBe(first.t);
    expect(built.n).toBe(1);
    first.release();
    second.release();
    a.dispose();
  });
});
