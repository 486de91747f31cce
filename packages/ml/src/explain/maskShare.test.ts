import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { loadMask, positiveMaskShare } from "./maskShare.js";

describe("positiveMaskShare", () => {
  it("is the fraction of positive channel-summed attribution on mask pixels; negatives are ignored", () => {
    // 2x2 image, 3 channels. Pixel sums: [3, 1, -5, 0]; mask covers pixels 0 and 2.
    const attr = new Float32Array([1, 1, 1, 0.5, 0.25, 0.25, -5, 0, 0, 0, 0, 0]);
    expect(positiveMaskShare(attr, [1, 0, 1, 0])).toBeCloseTo(3 / 4, 6);
    expect(positiveMaskShare(attr, [0, 0, 0, 0])).toBe(0);
    expect(positiveMaskShare(attr, [1, 1, 1, 1])).toBe(1);
    // A channel-level cancellation counts as what the pixel sums to.
    expect(positiveMaskShare(new Float32Array([2, -2, 0, 1, 0, 0]), [1, 0])).toBe(0);
    expect(positiveMaskShare(new Float32Array(6), [1, 0])).toBeNaN();
  });

  it("a uniform map scores the mask's area; a map concentrated on the lesion scores 1", () => {
    const n = 16 * 16;
    const mask: number[] = Array.from({ length: n }, (_, p) => (p % 16 < 4 && p < 64 ? 1 : 0));
    const area = mask.reduce((s, v) => s + v, 0) / n;
    expect(positiveMaskShare(new Float32Array(n * 3).fill(0.1), mask)).toBeCloseTo(area, 6);
    const focused = new Float32Array(n * 3);
    mask.forEach((m, p) => {
      if (m) focused[p * 3] = 1;
    });
    expect(positiveMaskShare(focused, mask)).toBe(1);
  });
});

describe("loadMask", () => {
  it("resizes a binary mask with nearest neighbour so it stays 0/1", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "xnn-mask-"));
    try {
      const px = Buffer.alloc(8 * 8);
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) px[y * 8 + x] = 255;
      const file = path.join(dir, "m.png");
      await writeFile(
        file,
        await sharp(px, { raw: { width: 8, height: 8, channels: 1 } })
          .png()
          .toBuffer(),
      );
      const m = await loadMask(file, 16);
      expect(m.length).toBe(256);
      expect(new Set(m)).toEqual(new Set([0, 1]));
      expect(m.reduce((s, v) => s + v, 0)).toBe(64);
      expect(m[0]).toBe(1);
      expect(m[255]).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
