import { readFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import {
  type AugmentOptions,
  type CropBox,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normaliseLuts,
  type ResolvedAugment,
  resolveAugment,
  sampleResizedCrop,
} from "./augment.js";
import { DecodeCache, decodeCacheBytesFromEnv } from "./decodeCache.js";
import { headerSize } from "./imageSize.js";
import { createRng, mixSeed, shuffleInPlace } from "./prng.js";
import type { DatasetItem } from "./scan.js";

export interface SkippedImage {
  /** The item's path as given (relative to the dataset root for scanned items). */
  path: string;
  reason: string;
}

/** Shared across epochs/iterators so a run log can print one list of unreadable files. */
export interface SkipReport {
  skipped: SkippedImage[];
}

export interface ImageBatch {
  /** NHWC float32, normalised, length b*size*size*3. */
  xs: Float32Array;
  /** Class indices, length b. */
  ys: Int32Array;
  paths: string[];
  /** [b, size, size, 3]; b is smaller than batchSize only for the last batch. */
  shape: [number, number, number, number];
  /** With `masks: true`: [b, size, size] 0/1, geometrically aligned with xs (same crop/flip). */
  masks?: Uint8Array;
  /** With `masks: true`: whether each item had a mask file (false => its mask is all zeros). */
  hasMask?: boolean[];
}

export interface BatchOptions {
  batchSize: number;
  imageSize: number;
  /** Item paths are resolved against this (the dataset root). Default: process.cwd(). */
  root?: string;
  shuffle?: boolean;
  /** Seeds shuffling and augmentation. Default 0. */
  seed?: number;
  /** Mixed into the seed so each epoch gets a new order/augmentation yet stays reproducible. */
  epoch?: number;
  /** true => torchvision-like defaults; an object tunes them; false/undefined => eval path. */
  augment?: boolean | AugmentOptions;
  /** Convert to luminance and replicate to 3 channels (chest X-rays). Default true. */
  grayscale?: boolean;
  mean?: readonly number[];
  std?: readonly number[];
  /** Drop a final incomplete batch (useful for BatchNorm training). Default false. */
  dropLast?: boolean;
  /** Images decoded ahead of the consumer; bounds memory. Default max(batchSize, 4 * concurrency). */
  prefetch?: number;
  /** Simultaneous sharp decodes. Default DEFAULT_DECODE_CONCURRENCY (see there). */
  concurrency?: number;
  /** Also yield lesion masks for items that have `maskPath`. */
  masks?: boolean;
  /** Shared report to accumulate skipped files into (deduplicated by path). */
  report?: SkipReport;
}

export interface BatchStream extends AsyncIterableIterator<ImageBatch> {
  /** Files skipped so far by this iterator. */
  readonly skipped: SkippedImage[];
  /** Most images ever decoding or decoded-but-unconsumed at once (<= prefetch): the memory bound. */
  readonly stats: { maxAhead: number; decoded: number };
}

/**
 * Two decodes in flight keep about one core busy in libvips (one decoding while the other waits on
 * file I/O), measured at 300-500 img/s eval and ~200 img/s augmented for 128 px PNGs on the 2-core
 * machines even under heavy load (decode.bench.ts). That is 5-10x what a training step consumes,
 * and leaves the other core to tfjs, which trains on the JS thread; more concurrency only buys
 * throughput nobody uses at the cost of stealing that core.
 */
export const DEFAULT_DECODE_CONCURRENCY = 2;

interface DecodedImage {
  /** size*size*channels bytes. */
  data: Buffer;
  channels: number;
  flip: boolean;
  /** Reduce colour input to luma before normalising. */
  grayscale: boolean;
  mask?: Buffer;
}

interface DecodeSpec {
  size: number;
  grayscale: boolean;
  augment: ResolvedAugment | null;
  /** Stream seed for this item's augmentation draws. */
  seed: number;
  maskAbsPath?: string;
}

/**
 * Decodes and geometrically transforms one image to size x size bytes. Everything heavy happens in
 * libvips on the libuv pool, so the JS thread (which tfjs uses for training) stays free.
 */
async function decodeOne(absPath: string, spec: DecodeSpec): Promise<DecodedImage> {
  const read = async () => decodeBytes(await readFile(absPath), spec);
  // Augmented decodes differ every epoch; the rest are the same bytes every time.
  if (spec.augment) return read();
  const key = `${absPath}\0${spec.size}\0${spec.grayscale}\0${spec.maskAbsPath ?? ""}`;
  const entry = await decodedImages().get(key, absPath, async () => {
    const img = await read();
    return { img, bytes: img.data.byteLength + (img.mask?.byteLength ?? 0) };
  });
  return entry.img;
}

let cache: DecodeCache<{ img: DecodedImage; bytes: number }> | undefined;
/** This process's cache of un-augmented decodes (see DecodeCache). */
export function decodedImages(): DecodeCache<{ img: DecodedImage; bytes: number }> {
  cache ??= new DecodeCache(decodeCacheBytesFromEnv());
  return cache;
}

async function decodeBytes(buf: Buffer, spec: DecodeSpec): Promise<DecodedImage> {
  let box: CropBox | undefined;
  let flip = false;
  let srcW = 0;
  let srcH = 0;
  const fast = headerSize(buf);
  if (spec.augment) {
    if (fast) {
      srcW = fast.width;
      srcH = fast.height;
    } else {
      const meta = await sharp(buf).metadata();
      if (!meta.width || !meta.height) throw new Error("image has no dimensions");
      // EXIF orientations 5-8 swap axes; the crop is taken in the displayed orientation.
      const swap = (meta.orientation ?? 1) >= 5;
      srcW = swap ? meta.height : meta.width;
      srcH = swap ? meta.width : meta.height;
    }
    const rng = createRng(spec.seed);
    box = sampleResizedCrop(srcW, srcH, rng, spec.augment.scale, spec.augment.ratio);
    flip = rng.next() < spec.augment.flipProb;
  }

  let pipe = sharp(buf).autoOrient();
  if (box) pipe = pipe.extract(box);
  pipe = pipe.resize(spec.size, spec.size, { fit: "fill", kernel: "linear" });
  // No libvips grayscale: it weights linear-light values, while the original PyTorch pipeline
  // (PIL convert("L")) uses ITU-R 601 luma on gamma-encoded values; that is done in writeImage.
  pipe = pipe.flatten();
  // sharp outputs sRGB by default, tripling the bytes for the (usual) gray X-ray; a file known to
  // be gray stays single-channel, which is exact because there is no colour to convert.
  if (fast?.gray) pipe = pipe.toColourspace("b-w");
  // 16-bit PNGs are common for radiographs; the float path below indexes 8-bit lookup tables.
  const { data, info } = await pipe.raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  if (info.width !== spec.size || info.height !== spec.size) {
    throw new Error(`decoded to ${info.width}x${info.height}, expected ${spec.size}x${spec.size}`);
  }

  const out: DecodedImage = { data, channels: info.channels, flip, grayscale: spec.grayscale };
  if (spec.maskAbsPath) {
    const maskPath = spec.maskAbsPath;
    out.mask = await decodeMask(maskPath, spec.size, box, srcW, srcH).catch((err: unknown) => {
      // The skip report is keyed by image; say when it was the mask that failed.
      throw new Error(`mask ${maskPath}: ${reasonOf(err)}`);
    });
  }
  return out;
}

async function decodeMask(
  absPath: string,
  size: number,
  box: CropBox | undefined,
  imgW: number,
  imgH: number,
): Promise<Buffer> {
  let pipe = sharp(absPath).autoOrient();
  if (box) {
    const meta = await sharp(absPath).metadata();
    const mw = meta.width ?? imgW;
    const mh = meta.height ?? imgH;
    // Masks may be stored at another resolution; map the image crop proportionally.
    const sx = mw / imgW;
    const sy = mh / imgH;
    const left = Math.min(mw - 1, Math.round(box.left * sx));
    const top = Math.min(mh - 1, Math.round(box.top * sy));
    pipe = pipe.extract({
      left,
      top,
      width: Math.max(1, Math.min(mw - left, Math.round(box.width * sx))),
      height: Math.max(1, Math.min(mh - top, Math.round(box.height * sy))),
    });
  }
  const data = await pipe
    .resize(size, size, { fit: "fill", kernel: "nearest" })
    .flatten()
    .grayscale()
    .raw()
    .toBuffer();
  for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) > 127 ? 1 : 0;
  return data;
}

function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split("\n")[0]?.trim() || "unknown decode error";
}

/** Minimal counting semaphore: caps concurrent sharp work without a dependency. */
function limiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

type Outcome = { ok: true; img: DecodedImage } | { ok: false; reason: string };

/**
 * Streams batches of decoded images. At most `prefetch` images are in flight or buffered, so
 * memory stays bounded whatever the dataset size, while decoding overlaps the consumer's work.
 * Corrupt/unreadable files are skipped (the batch is filled from later items) and listed in
 * `skipped` rather than aborting a long training run.
 */
export function batches(items: readonly DatasetItem[], options: BatchOptions): BatchStream {
  const { batchSize, imageSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isInteger(imageSize) || imageSize < 1) {
    throw new RangeError(`imageSize must be a positive integer, got ${imageSize}`);
  }
  const concurrency = options.concurrency ?? DEFAULT_DECODE_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  }
  const prefetch = Math.max(1, options.prefetch ?? Math.max(batchSize, 4 * concurrency));
  const root = path.resolve(options.root ?? ".");
  const seed = options.seed ?? 0;
  const epoch = options.epoch ?? 0;
  const augment = resolveAugment(options.augment);
  const grayscale = options.grayscale ?? true;
  const wantMasks = options.masks ?? false;
  const dropLast = options.dropLast ?? false;
  const luts = normaliseLuts(options.mean ?? IMAGENET_MEAN, options.std ?? IMAGENET_STD);
  const report = options.report;

  const skipped: SkippedImage[] = [];
  const stats = { maxAhead: 0, decoded: 0 };
  const order = items.map((_, i) => i);
  if (options.shuffle) shuffleInPlace(order, createRng(mixSeed(seed, epoch, 0x5f1e)));

  const limit = limiter(concurrency);
  const decode = (idx: number): Promise<Outcome> => {
    const item = items[idx] as DatasetItem;
    const spec: DecodeSpec = {
      size: imageSize,
      grayscale,
      augment,
      // Keyed by item index (not queue position) so results do not depend on decode timing.
      seed: mixSeed(seed, epoch, idx, 0xa6),
    };
    if (wantMasks && item.maskPath) spec.maskAbsPath = path.resolve(root, item.maskPath);
    return limit(() => decodeOne(path.resolve(root, item.path), spec)).then(
      (img): Outcome => ({ ok: true, img }),
      (err: unknown): Outcome => ({ ok: false, reason: reasonOf(err) }),
    );
  };

  const pixels = imageSize * imageSize;
  const newBatch = () => ({
    xs: new Float32Array(batchSize * pixels * 3),
    ys: new Int32Array(batchSize),
    paths: [] as string[],
    masks: wantMasks ? new Uint8Array(batchSize * pixels) : undefined,
    hasMask: [] as boolean[],
  });

  async function* run(): AsyncGenerator<ImageBatch> {
    const pending: { idx: number; p: Promise<Outcome> }[] = [];
    let next = 0;
    const fill = () => {
      while (pending.length < prefetch && next < order.length) {
        const idx = order[next++] as number;
        pending.push({ idx, p: decode(idx) });
      }
      if (pending.length > stats.maxAhead) stats.maxAhead = pending.length;
    };

    let b = newBatch();
    let n = 0;
    const emit = (count: number): ImageBatch => {
      const full = count === batchSize;
      const out: ImageBatch = {
        xs: full ? b.xs : b.xs.slice(0, count * pixels * 3),
        ys: full ? b.ys : b.ys.slice(0, count),
        paths: b.paths,
        shape: [count, imageSize, imageSize, 3],
      };
      if (b.masks) {
        out.masks = full ? b.masks : b.masks.slice(0, count * pixels);
        out.hasMask = b.hasMask;
      }
      return out;
    };

    fill();
    while (pending.length > 0) {
      const head = pending.shift() as { idx: number; p: Promise<Outcome> };
      const res = await head.p;
      stats.decoded++;
      fill();
      const item = items[head.idx] as DatasetItem;
      if (!res.ok) {
        const entry = { path: item.path, reason: res.reason };
        skipped.push(entry);
        if (report && !report.skipped.some((s) => s.path === entry.path)) report.skipped.push(entry);
        continue;
      }
      writeImage(b.xs, n * pixels * 3, res.img, imageSize, luts);
      if (b.masks) {
        if (res.img.mask) writeMask(b.masks, n * pixels, res.img.mask, imageSize, res.img.flip);
        b.hasMask.push(res.img.mask !== undefined);
      }
      b.ys[n] = item.label;
      b.paths.push(item.path);
      n++;
      if (n === batchSize) {
        const out = emit(n);
        b = newBatch();
        n = 0;
        yield out;
      }
    }
    if (n > 0 && !dropLast) yield emit(n);
  }

  const gen = run();
  return Object.assign(gen, { skipped, stats }) as BatchStream;
}

function writeImage(
  dst: Float32Array,
  offset: number,
  img: DecodedImage,
  size: number,
  luts: [Float32Array, Float32Array, Float32Array],
): void {
  const [l0, l1, l2] = luts;
  const src = img.data;
  const ch = img.channels;
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      const s = (row + x) * ch;
      const d = offset + (row + (img.flip ? size - 1 - x : x)) * 3;
      if (ch < 3 || img.grayscale) {
        // ITU-R 601 luma in 16-bit fixed point, the same integer formula PIL uses for "L".
        const v =
          ch < 3
            ? (src[s] as number)
            : ((src[s] as number) * 19595 +
                (src[s + 1] as number) * 38470 +
                (src[s + 2] as number) * 7471 +
                0x8000) >>
              16;
        dst[d] = l0[v] as number;
        dst[d + 1] = l1[v] as number;
        dst[d + 2] = l2[v] as number;
      } else {
        dst[d] = l0[src[s] as number] as number;
        dst[d + 1] = l1[src[s + 1] as number] as number;
        dst[d + 2] = l2[src[s + 2] as number] as number;
      }
    }
  }
}

function writeMask(dst: Uint8Array, offset: number, mask: Buffer, size: number, flip: boolean): void {
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      dst[offset + row + (flip ? size - 1 - x : x)] = mask[row + x] as number;
    }
  }
}

export interface DecodeImageOptions {
  imageSize: number;
  grayscale?: boolean;
  mean?: readonly number[];
  std?: readonly number[];
}

/** Eval-path decode of a single file (prediction / explanation): [1, size, size, 3] NHWC. */
export async function decodeImage(absPath: string, options: DecodeImageOptions): Promise<Float32Array> {
  const size = options.imageSize;
  const img = await decodeOne(absPath, {
    size,
    grayscale: options.grayscale ?? true,
    augment: null,
    seed: 0,
  });
  const out = new Float32Array(size * size * 3);
  writeImage(out, 0, img, size, normaliseLuts(options.mean, options.std));
  return out;
}

/** decodeImage for bytes already in memory (an upload): the same eval-path preprocessing. */
export async function decodeImageBuffer(bytes: Buffer, options: DecodeImageOptions): Promise<Float32Array> {
  const size = options.imageSize;
  const img = await decodeBytes(bytes, {
    size,
    grayscale: options.grayscale ?? true,
    augment: null,
    seed: 0,
  });
  const out = new Float32Array(size * size * 3);
  writeImage(out, 0, img, size, normaliseLuts(options.mean, options.std));
  return out;
}

/** One-line summary for run logs: count plus names (first `max`). */
export function formatSkipped(skipped: readonly SkippedImage[], max = 20): string {
  if (skipped.length === 0) return "skipped 0 unreadable images";
  const shown = skipped.slice(0, max).map((s) => `${s.path} (${s.reason})`);
  const more = skipped.length > max ? `, ... and ${skipped.length - max} more` : "";
  return `skipped ${skipped.length} unreadable image${skipped.length === 1 ? "" : "s"}: ${shown.join(", ")}${more}`;
}
