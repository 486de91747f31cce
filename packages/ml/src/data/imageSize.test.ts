import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { headerSize } from "./imageSize.js";

describe("headerSize", () => {
  it("reads PNG and JPEG dimensions like sharp does", async () => {
    const raw = { raw: { width: 37, height: 21, channels: 3 as const } };
    const data = Buffer.alloc(37 * 21 * 3, 90);
    const png = await sharp(data, raw).png().toBuffer();
    const jpg = await sharp(data, raw).jpeg().toBuffer();
    const prog = await sharp(data, raw).jpeg({ progressive: true }).toBuffer();
    expect(headerSize(png)).toEqual({ width: 37, height: 21, gray: false });
    expect(headerSize(jpg)).toEqual({ width: 37, height: 21, gray: false });
    expect(headerSize(prog)).toEqual({ width: 37, height: 21, gray: false });
    const g = Buffer.alloc(37 * 21, 90);
    const graw = { raw: { width: 37, height: 21, channels: 1 as const } };
    const gpng = await sharp(g, graw).toColourspace("b-w").png().toBuffer();
    const gjpg = await sharp(g, graw).toColourspace("b-w").jpeg().toBuffer();
    expect(headerSize(gpng)).toEqual({ width: 37, height: 21, gray: true });
    expect(headerSize(gjpg)).toEqual({ width: 37, height: 21, gray: true });
  });

  it("declines when unsure: EXIF orientation, garbage, other formats", async () => {
    const data = Buffer.alloc(30 * 10 * 3, 90);
    const exif = await sharp(data, { raw: { width: 30, height: 10, channels: 3 } })
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    expect(headerSize(exif)).toBeUndefined();
    expect(headerSize(Buffer.from("garbage bytes, not an image at all"))).toBeUndefined();
    const webp = await sharp(data, { raw: { width: 30, height: 10, channels: 3 } })
      .webp()
      .toBuffer();
    expect(headerSize(webp)).toBeUndefined();
  });
});
