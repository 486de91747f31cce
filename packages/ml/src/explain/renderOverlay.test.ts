import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { absPercentile, overlayScale, renderOverlay } from "./renderOverlay.js";

describe("renderOverlay", () => {
  it("scales by the 98th percentile of |attribution| and clips outliers", () => {
    const v = Float32Array.from({ length: 100 }, (_, i) => (i === 99 ? 1000 : i % 2 ? i / 100 : -i / 100));
    const clip = absPercentile(v, 98);
    expect(clip).toBeLessThan(1);
    const { signed } = overlayScale(v, 98);
    expect(signed[99]).toBe(1);
    expect(Math.max(...signed.map(Math.abs))).toBe(1);
    expect(overlayScale(new Float32Array(10)).clip).toBe(0);
  });

  it("draws green for positive and red for negative attribution over the gray image, with a colour bar", async () => {
    const S = 32;
    const gray = new Uint8Array(S * S).fill(128);
    const attr = new Float32Array(S * S * 3);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const p = y * S + x;
        // Left half positive, right half negative, top rows neutral.
        if (y >= 8) attr[p * 3] = x < S / 2 ? 1 : -1;
      }
    }
    const png = await renderOverlay(gray, attr, { predictedClassName: "bacteria", displaySize: 256 });
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBeGreaterThan(256);
    const at = (x: number, y: number) =>
      Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
    const top = 28; // title strip
    const [gr, gg, gb] = at(40, top + 200);
    expect(gg).toBeGreaterThan((gr as number) + 40);
    expect(gg).toBeGreaterThan((gb as number) + 20);
    const [rr, rg] = at(220, top + 200);
    expect(rr).toBeGreaterThan((rg as number) + 40);
    expect(at(40, top + 20)).toEqual([128, 128, 128]);
    // The colour bar: green at its top, red at its bottom.
    const barX = 256 + 16 + 9;
    expect(at(barX, top + 3)[1]).toBeGreaterThan(at(barX, top + 3)[0] as number);
    expect(at(barX, top + 252)[0]).toBeGreaterThan(at(barX, top + 252)[1] as number);
  });

  it("rejects attributions that do not match the image", async () => {
    await expect(renderOverlay(new Uint8Array(16), new Float32Array(10))).rejects.toThrow(/do not divide/);
  });
});
