import { readFile } from "node:fs/promises";
import sharp from "sharp";

/** Colour and opacity of a lesion mask drawn over an image. */
const MASK_RGB = [255, 48, 48] as const;
const MASK_OPACITY = 0.45;

/**
 * A JPEG of the image scaled to fit `size` x `size` (never enlarged), with the lesion mask (a
 * grayscale PNG, nonzero inside the lesion) drawn over it in translucent red when one is given.
 */
export async function renderThumbnail(imageFile: string, size: number, maskFile?: string): Promise<Buffer> {
  const base = await sharp(await readFile(imageFile))
    .rotate()
    .resize(size, size, { fit: "inside", withoutEnlargement: true })
    .removeAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height, channels } = base.info;
  let pixels = base.data;
  if (maskFile) {
    const mask = await sharp(await readFile(maskFile))
      .resize(width, height, { fit: "fill" })
      .greyscale()
      .raw()
      .toBuffer();
    pixels = Buffer.from(pixels);
    for (let i = 0; i < width * height; i++) {
      const a = ((mask[i] ?? 0) / 255) * MASK_OPACITY;
      if (a === 0) continue;
      for (let c = 0; c < 3; c++) {
        const o = i * channels + c;
        pixels[o] = Math.round(pixels[o]! * (1 - a) + MASK_RGB[c]! * a);
      }
    }
  }
  return sharp(pixels, { raw: { width, height, channels } }).jpeg({ quality: 82 }).toBuffer();
}
