import sharp from "sharp";
import { pixelAttributions } from "./renderOverlay.js";

/**
 * Share of the positive (channel-summed) attribution that falls on mask pixels: 1 means all the
 * evidence for the class sits inside the lesion, the mask's area fraction is what a map spread
 * uniformly would score. Returns NaN when there is no positive attribution at all.
 */
export function positiveMaskShare(attributions: Float32Array, mask: ArrayLike<number>): number {
  const perPixel = pixelAttributions(attributions, mask.length);
  let inside = 0;
  let total = 0;
  for (let p = 0; p < perPixel.length; p++) {
    const v = perPixel[p] as number;
    if (v <= 0) continue;
    total += v;
    if ((mask[p] as number) > 0) inside += v;
  }
  return total > 0 ? inside / total : Number.NaN;
}

/** A binary mask file resized (nearest neighbour, so it stays binary) to the model's input size. */
export async function loadMask(absPath: string, imageSize: number): Promise<Uint8Array> {
  const { data } = await sharp(absPath)
    .autoOrient()
    .resize(imageSize, imageSize, { fit: "fill", kernel: "nearest" })
    .toColourspace("b-w")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(imageSize * imageSize);
  for (let i = 0; i < out.length; i++) out[i] = (data[i] as number) > 127 ? 1 : 0;
  return out;
}
