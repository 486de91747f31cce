import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { encodeGrayPng } from "./png.js";

describe("encodeGrayPng", () => {
  it("round-trips through sharp/libpng bit-exactly", async () => {
    const w = 37;
    const h = 23;
    const px = new Uint8Array(w * h);
    for (let i = 0; i < px.length; i++) px[i] = (i * 97 + (i >> 3)) & 0xff;
    const png = await encodeGrayPng(px, w, h);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels, meta.format]).toEqual([w, h, 1, "png"]);
    const back = await sharp(png).toColourspace("b-w").raw().toBuffer();
    expect(Buffer.from(back).equals(Buffer.from(px))).toBe(true);
  });

  it("rejects a size mismatch", async () => {
    await expect(encodeGrayPng(new Uint8Array(5), 2, 2)).rejects.toThrow(/expected 4 pixels/);
  });
});
