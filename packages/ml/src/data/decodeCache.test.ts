import { rm, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DecodeCache, decodeCacheBytesFromEnv } from "./decodeCache.js";
import { batches, decodedImages } from "./loader.js";
import type { DatasetItem } from "./scan.js";
import { solidPng, tempDir, writeFiles } from "./testUtil.js";

let root: string;
beforeAll(async () => {
  root = await tempDir("xnn-decode-cache-");
  await writeFiles(root, {
    "a.png": await solidPng(16, 16, 10),
    "b.png": await solidPng(16, 16, 200),
    "c.png": await solidPng(16, 16, 90),
  });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const entry = (bytes: number, tag: string) => ({ bytes, tag });

describe("DecodeCache", () => {
  it("answers a repeated key without decoding again, and evicts the least recently used past its byte budget", async () => {
    const c = new DecodeCache<{ bytes: number; tag: string }>(250);
    let decodes = 0;
    const get = (name: string) =>
      c.get(name, path.join(root, `${name}.png`), async () => {
        decodes++;
        return entry(100, name);
      });
    expect((await get("a")).tag).toBe("a");
    expect((await get("a")).tag).toBe("a");
    expect(decodes).toBe(1);
    await get("b");
    await get("a"); // a is now the most recent
    await get("c"); // 300 bytes > 250: b, the least recent, goes
    expect(c.size).toEqual({ entries: 2, bytes: 200 });
    expect(decodes).toBe(3);
    await get("a");
    expect(decodes).toBe(3);
    await get("b");
    expect(decodes).toBe(4);
    expect(c.hits).toBe(3);
    expect(c.misses).toBe(4);
  });

  it("decodes again when the file changed (size or modification time)", async () => {
    const file = path.join(root, "changing.png");
    await writeFile(file, await solidPng(8, 8, 1));
    const c = new DecodeCache<{ bytes: number; tag: string }>(1 << 20);
    let n = 0;
    const get = () => c.get("k", file, async () => entry(10, `v${++n}`));
    expect((await get()).tag).toBe("v1");
    expect((await get()).tag).toBe("v1");
    await writeFile(file, await solidPng(9, 9, 1));
    expect((await get()).tag).toBe("v2");
    const later = new Date(Date.now() + 60_000);
    await utimes(file, later, later);
    expect((await get()).tag).toBe("v3");
    expect(c.size.entries).toBe(1);
  });

  it("with a budget of 0 it keeps nothing", async () => {
    const c = new DecodeCache<{ bytes: number; tag: string }>(0);
    let n = 0;
    for (let i = 0; i < 3; i++) await c.get("k", path.join(root, "a.png"), async () => entry(1, `v${++n}`));
    expect(n).toBe(3);
    expect(c.size).toEqual({ entries: 0, bytes: 0 });
  });

  it("reads XNN_DECODE_CACHE_MB, and names it when it is not a number >= 0", () => {
    expect(decodeCacheBytesFromEnv({})).toBe(256 * 1024 * 1024);
    expect(decodeCacheBytesFromEnv({ XNN_DECODE_CACHE_MB: "0" })).toBe(0);
    expect(decodeCacheBytesFromEnv({ XNN_DECODE_CACHE_MB: "1.5" })).toBe(1.5 * 1024 * 1024);
    expect(() => decodeCacheBytesFromEnv({ XNN_DECODE_CACHE_MB: "lots" })).toThrow(
      /XNN_DECODE_CACHE_MB.*"lots"/,
    );
    expect(() => decodeCacheBytesFromEnv({ XNN_DECODE_CACHE_MB: "-1" })).toThrow(/XNN_DECODE_CACHE_MB/);
  });
});

describe("the loader's decode cache", () => {
  const items: DatasetItem[] = ["a.png", "b.png", "c.png"].map((p, i) => ({ path: p, label: i }));
  const read = async (augment: boolean) => {
    const out: number[] = [];
    for await (const b of batches(items, { batchSize: 2, imageSize: 8, root, augment, seed: 3 }))
      out.push(...b.xs);
    return out;
  };

  it("serves the second un-augmented pass from memory with the same values; augmented passes always decode", async () => {
    const cache = decodedImages();
    cache.clear();
    const first = await read(false);
    const misses = cache.misses;
    const hits = cache.hits;
    expect(await read(false)).toEqual(first);
    expect(cache.misses).toBe(misses);
    expect(cache.hits).toBe(hits + 3);
    await read(true);
    expect(cache.hits).toBe(hits + 3);
    expect(cache.misses).toBe(misses);
  });
});
