import type { Rng } from "./prng.js";

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export interface AugmentOptions {
  /** Range of the crop's area as a fraction of the image area. Default [0.08, 1] (torchvision). */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio (w/h), sampled log-uniformly. Default [3/4, 4/3]. */
  ratio?: readonly [number, number];
  /** Probability of a horizontal flip. Default 0.5. */
  flipProb?: number;
}

export interface ResolvedAugment {
  scale: readonly [number, number];
  ratio: readonly [number, number];
  flipProb: number;
}

export function resolveAugment(a: AugmentOptions | boolean | undefined): ResolvedAugment | null {
  if (a === undefined || a === false) return null;
  const o = a === true ? {} : a;
  const scale = o.scale ?? [0.08, 1];
  const ratio = o.ratio ?? [3 / 4, 4 / 3];
  const flipProb = o.flipProb ?? 0.5;
  if (!(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1)) {
    throw new RangeError(`augment.scale must satisfy 0 < min <= max <= 1, got [${scale.join(", ")}]`);
  }
  if (!(ratio[0] > 0 && ratio[0] <= ratio[1])) {
    throw new RangeError(`augment.ratio must satisfy 0 < min <= max, got [${ratio.join(", ")}]`);
  }
  if (!(flipProb >= 0 && flipProb <= 1)) {
    throw new RangeError(`augment.flipProb must be in [0, 1], got ${flipProb}`);
  }
  return { scale, ratio, flipProb };
}

export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * RandomResizedCrop's box sampling with the same semantics as torchvision (10 tries of a random
 * area/aspect pair, then a centre crop clamped to the ratio range), so hyper-parameters carried
 * over from the original PyTorch pipeline mean the same thing here.
 */
export function sampleResizedCrop(
  width: number,
  height: number,
  rng: Rng,
  scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { left: rng.int(0, width - w), top: rng.int(0, height - h), width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) {
    h = Math.round(w / ratio[0]);
  } else if (inRatio > ratio[1]) {
    w = Math.round(h * ratio[1]);
  }
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * Per-channel lookup tables from a byte value to its normalised float. A table beats computing
 * (v/255 - mean)/std per pixel and keeps train/eval normalisation identical by construction.
 */
export function normaliseLuts(
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): [Float32Array, Float32Array, Float32Array] {
  if (mean.length !== 3 || std.length !== 3) throw new RangeError("mean and std need 3 values (RGB)");
  const luts: Float32Array[] = [];
  for (let c = 0; c < 3; c++) {
    const m = mean[c] as number;
    const s = std[c] as number;
    if (!(s > 0)) throw new RangeError(`std[${c}] must be > 0`);
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = (v / 255 - m) / s;
    luts.push(lut);
  }
  return luts as [Float32Array, Float32Array, Float32Array];
}
