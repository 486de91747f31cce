import { rm } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMAGENET_MEAN, IMAGENET_STD, sampleResizedCrop } from "./augment.js";
import { batches, decodeImage, formatSkipped, type ImageBatch, type SkipReport } from "./loader.js";
import { createRng } from "./prng.js";
import type { DatasetItem } from "./scan.js";
import { patternPng, solidPng, tempDir, writeFiles } from "./testUtil.js";

let root: string;
const items: DatasetItem[] = [];

async function collect(it: AsyncIterable<ImageBatch>): Promise<ImageBatch[]> {
  const out: ImageBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

beforeAll(async () => {
  root = await tempDir("xnn-loader-");
  const files: Record<string, Buffer | string> = {};
  // Each image a different gray level (and size) so order and values are checkable.
  for (let i = 0; i < 10; i++) {
    const rel = `train/c${i % 2}/img${i}.png`;
    files[rel] = await solidPng(20 + i, 16 + 2 * i, 10 + 20 * i);
    items.push({ path: rel, label: i % 2 });
  }
  // A left-half-bright image with a matching mask: checks flips move image and mask together.
  files["train/c0/half.png"] = await patternPng(32, 32, (x) => (x < 16 ? 255 : 0));
  files["masks/train/c0/half.png"] = await patternPng(32, 32, (x) => (x < 16 ? 255 : 0));
  files["train/c1/rgb.png"] = await solidPng(8, 8, [255, 0, 0]);
  const g = Buffer.alloc(10 * 10, 200);
  files["train/c1/gray16.png"] = await sharp(g, { raw: { width: 10, height: 10, channels: 1 } })
    .toColourspace("grey16")
    .png()
    .toBuffer();
  files["train/c1/gray.jpg"] = await sharp(g, { raw: { width: 10, height: 10, channels: 1 } })
    .toColourspace("b-w")
    .jpeg({ quality: 100 })
    .toBuffer();
  files["train/c1/corrupt.png"] = Buffer.from("this is not a png at all, just garbage bytes");
  files["train/c1/truncated.png"] = (await solidPng(64, 64, 77)).subarray(0, 60);
  await writeFiles(root, files);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function norm(v: number, c: number): number {
  return (v / 255 - (IMAGENET_MEAN[c] as number)) / (IMAGENET_STD[c] as number);
}

describe("batches", () => {
  it("yields NHWC float batches with labels, paths and a partial last batch", async () => {
    const got = await collect(batches(items, { root, batchSize: 4, imageSize: 8 }));
    expect(got.map((b) => b.shape)).toEqual([
      [4, 8, 8, 3],
      [4, 8, 8, 3],
      [2, 8, 8, 3],
    ]);
    expect(got[0]?.xs.length).toBe(4 * 8 * 8 * 3);
    expect(got[2]?.xs.length).toBe(2 * 8 * 8 * 3);
    expect(Array.from(got.flatMap((b) => Array.from(b.ys)))).toEqual(items.map((i) => i.label));
    expect(got.flatMap((b) => b.paths)).toEqual(items.map((i) => i.path));
    const dropped = await collect(batches(items, { root, batchSize: 4, imageSize: 8, dropLast: true }));
    expect(dropped.length).toBe(2);
  });

  it("normalises with ImageNet mean/std and replicates grayscale to 3 channels", async () => {
    const [b] = await collect(batches(items.slice(3, 4), { root, batchSize: 1, imageSize: 6 }));
    const v = 10 + 20 * 3;
    for (let p = 0; p < 36; p++) {
      for (let c = 0; c < 3; c++) expect(b?.xs[p * 3 + c]).toBeCloseTo(norm(v, c), 5);
    }
    // Colour input is reduced to luminance too (X-rays), so the three channels share one gray level.
    const [rgb] = await collect(
      batches([{ path: "train/c1/rgb.png", label: 1 }], { root, batchSize: 1, imageSize: 4 }),
    );
    const gray = Math.round(((rgb?.xs[0] ?? 0) * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255);
    // PIL's convert("L") maps pure red to 76 (ITU-R 601 luma).
    expect(gray).toBe(76);
    expect(rgb?.xs[1]).toBeCloseTo(norm(gray, 1), 4);
    // 16-bit PNG and grayscale JPEG inputs land on the same 8-bit scale.
    const [deep] = await collect(
      batches(
        [
          { path: "train/c1/gray16.png", label: 1 },
          { path: "train/c1/gray.jpg", label: 1 },
        ],
        { root, batchSize: 2, imageSize: 4 },
      ),
    );
    expect(deep?.xs[0]).toBeCloseTo(norm(200, 0), 4);
    expect(deep?.xs[4 * 4 * 3 + 2]).toBeCloseTo(norm(200, 2), 1);
    // grayscale: false keeps colour.
    const [col] = await collect(
      batches([{ path: "train/c1/rgb.png", label: 1 }], {
        root,
        batchSize: 1,
        imageSize: 4,
        grayscale: false,
      }),
    );
    expect(col?.xs[0]).toBeCloseTo(norm(255, 0), 5);
    expect(col?.xs[1]).toBeCloseTo(norm(0, 1), 5);
  });

  it("skips corrupt files, reports their names, and still loads the rest", async () => {
    const withBad: DatasetItem[] = [
      items[0] as DatasetItem,
      { path: "train/c1/corrupt.png", label: 1 },
      items[1] as DatasetItem,
      { path: "train/c1/truncated.png", label: 1 },
      { path: "train/c1/missing.png", label: 1 },
      items[2] as DatasetItem,
    ];
    const report: SkipReport = { skipped: [] };
    const stream = batches(withBad, { root, batchSize: 2, imageSize: 8, report });
    const got = await collect(stream);
    expect(got.flatMap((b) => b.paths)).toEqual([items[0]?.path, items[1]?.path, items[2]?.path]);
    expect(got.map((b) => b.shape[0])).toEqual([2, 1]);
    expect(stream.skipped.map((s) => s.path)).toEqual([
      "train/c1/corrupt.png",
      "train/c1/truncated.png",
      "train/c1/missing.png",
    ]);
    for (const s of stream.skipped) expect(s.reason.length).toBeGreaterThan(0);
    expect(report.skipped).toEqual(stream.skipped);
    // A second epoch into the same report does not duplicate entries.
    await collect(batches(withBad, { root, batchSize: 2, imageSize: 8, report, epoch: 1 }));
    expect(report.skipped.length).toBe(3);
    expect(formatSkipped(report.skipped)).toMatch(/^skipped 3 unreadable images: train\/c1\/corrupt\.png/);
  });

  it("is deterministic for a seed (shuffle + augmentation) and varies with seed and epoch", async () => {
    const opts = { root, batchSize: 3, imageSize: 12, shuffle: true, augment: true, seed: 7 };
    const a = await collect(batches(items, { ...opts, concurrency: 1 }));
    const b = await collect(batches(items, { ...opts, concurrency: 4, prefetch: 7 }));
    expect(b.map((x) => x.paths)).toEqual(a.map((x) => x.paths));
    expect(b.map((x) => Array.from(x.xs))).toEqual(a.map((x) => Array.from(x.xs)));
    const other = await collect(batches(items, { ...opts, seed: 8 }));
    expect(other.flatMap((x) => x.paths)).not.toEqual(a.flatMap((x) => x.paths));
    const nextEpoch = await collect(batches(items, { ...opts, epoch: 1 }));
    expect(nextEpoch.flatMap((x) => x.paths)).not.toEqual(a.flatMap((x) => x.paths));
    // Shuffling permutes, never drops or repeats.
    expect(a.flatMap((x) => x.paths).sort()).toEqual(items.map((i) => i.path).sort());
  });

  it("augmentation keeps the output shape and flips image and mask together", async () => {
    const half: DatasetItem = { path: "train/c0/half.png", label: 0, maskPath: "masks/train/c0/half.png" };
    const size = 16;
    const [plain] = await collect(batches([half], { root, batchSize: 1, imageSize: size, masks: true }));
    const [flipped] = await collect(
      batches([half], {
        root,
        batchSize: 1,
        imageSize: size,
        masks: true,
        augment: { scale: [1, 1], ratio: [1, 1], flipProb: 1 },
      }),
    );
    expect(flipped?.shape).toEqual([1, size, size, 3]);
    expect(plain?.hasMask).toEqual([true]);
    const px = (b: ImageBatch | undefined, x: number, y: number) => b?.xs[(y * size + x) * 3] ?? Number.NaN;
    const mk = (b: ImageBatch | undefined, x: number, y: number) => b?.masks?.[y * size + x];
    expect(px(plain, 1, 5)).toBeCloseTo(norm(255, 0), 4);
    expect(px(plain, size - 2, 5)).toBeCloseTo(norm(0, 0), 4);
    expect(mk(plain, 1, 5)).toBe(1);
    expect(mk(plain, size - 2, 5)).toBe(0);
    expect(px(flipped, 1, 5)).toBeCloseTo(norm(0, 0), 4);
    expect(px(flipped, size - 2, 5)).toBeCloseTo(norm(255, 0), 4);
    expect(mk(flipped, 1, 5)).toBe(0);
    expect(mk(flipped, size - 2, 5)).toBe(1);

    // Default augmentation on every image still gives full-size batches with finite values.
    const aug = await collect(batches(items, { root, batchSize: 5, imageSize: 10, augment: true, seed: 3 }));
    for (const b of aug) {
      expect(b.shape.slice(1)).toEqual([10, 10, 3]);
      expect(b.xs.every(Number.isFinite)).toBe(true);
    }
  });

  it("decodes a bounded number of images ahead of a slow consumer", async () => {
    const many = Array.from({ length: 40 }, (_, i) => items[i % items.length] as DatasetItem);
    const stream = batches(many, { root, batchSize: 2, imageSize: 8, prefetch: 3, concurrency: 2 });
    let n = 0;
    for await (const b of stream) {
      n += b.shape[0];
      // A consumer slower than decoding: without the bound, everything would be decoded by now.
      await new Promise((r) => setTimeout(r, 5));
      expect(stream.stats.decoded).toBeLessThanOrEqual(n + 3);
    }
    expect(n).toBe(40);
    expect(stream.stats.maxAhead).toBe(3);
    // Default bound: max(batchSize, 4 * concurrency).
    const d = batches(many, { root, batchSize: 4, imageSize: 8 });
    for await (const _ of d) {
      // drain
    }
    expect(d.stats.maxAhead).toBe(8);
  });

  it("decodeImage matches the eval path of batches", async () => {
    const x = await decodeImage(path.join(root, items[4]?.path ?? ""), { imageSize: 8 });
    const [b] = await collect(batches(items.slice(4, 5), { root, batchSize: 1, imageSize: 8 }));
    expect(Array.from(x)).toEqual(Array.from(b?.xs ?? []));
  });

  it("rejects bad options", () => {
    expect(() => batches(items, { batchSize: 0, imageSize: 8 })).toThrow(/batchSize/);
    expect(() => batches(items, { batchSize: 2, imageSize: 8, augment: { scale: [0.5, 2] } })).toThrow(
      /scale/,
    );
  });
});

describe("sampleResizedCrop", () => {
  it("stays inside the image with area and aspect in range (torchvision semantics)", () => {
    const rng = createRng(1);
    for (let i = 0; i < 500; i++) {
      const w = 20 + (i % 50);
      const h = 30 + ((i * 7) % 40);
      const box = sampleResizedCrop(w, h, rng);
      expect(box.left).toBeGreaterThanOrEqual(0);
      expect(box.top).toBeGreaterThanOrEqual(0);
      expect(box.left + box.width).toBeLessThanOrEqual(w);
      expect(box.top + box.height).toBeLessThanOrEqual(h);
      expect(box.width).toBeGreaterThan(0);
      expect(box.height).toBeGreaterThan(0);
    }
    // Full-scale, square ratio on a square image is the whole image.
    expect(sampleResizedCrop(40, 40, rng, [1, 1], [1, 1])).toEqual({
      left: 0,
      top: 0,
      width: 40,
      height: 40,
    });
    // Impossible ratio falls back to a centred crop clamped to the ratio range.
    expect(sampleResizedCrop(100, 10, createRng(2), [1, 1], [2, 2])).toEqual({
      left: 40,
      top: 0,
      width: 20,
      height: 10,
    });
  });
});
