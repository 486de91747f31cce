import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { headerSize } from "./imageSize.js";
import { SPLITS, type SplitName, scanDataset } from "./scan.js";

/** One image of a described data set. */
export interface DescribedImage {
  /** Relative to the root, e.g. "test/normal/img-1.png" (what predictions are keyed by). */
  path: string;
  split: SplitName;
  label: number;
  width: number | null;
  height: number | null;
  /** "png", "jpeg", or null when the file is not a readable image. */
  format: string | null;
  bytes: number;
  maskPath: string | null;
  /** Why the file is not a readable image; null when it is. */
  error: string | null;
}

/** What the registry keeps about one content of a data set. */
export interface DatasetDescription {
  root: string;
  classNames: string[];
  /** sha256 over every image's path, label and content hash: equal exactly when the content is. */
  fingerprint: string;
  imageCount: number;
  classCounts: Record<SplitName, Record<string, number>>;
  formats: Record<string, number>;
  sizes: {
    minWidth: number | null;
    maxWidth: number | null;
    minHeight: number | null;
    maxHeight: number | null;
    /** The ten most frequent sizes. */
    common: { width: number; height: number; count: number }[];
  };
  unreadable: { path: string; reason: string }[];
  maskCount: number;
  images: DescribedImage[];
}

const READ_CONCURRENCY = 16;

function formatOf(buf: Uint8Array): "png" | "jpeg" | null {
  if (buf.length >= 8 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47)
    return "png";
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return "jpeg";
  return null;
}

async function describeFile(
  root: string,
  rel: string,
): Promise<{
  hash: string;
  bytes: number;
  width: number | null;
  height: number | null;
  format: string | null;
  error: string | null;
}> {
  let buf: Buffer;
  try {
    buf = await readFile(path.join(root, rel));
  } catch (err) {
    return {
      hash: "unreadable",
      bytes: 0,
      width: null,
      height: null,
      format: null,
      error: `cannot read: ${(err as Error).message}`,
    };
  }
  const hash = createHash("sha256").update(buf).digest("hex");
  const base = { hash, bytes: buf.length };
  if (buf.length === 0) return { ...base, width: null, height: null, format: null, error: "empty file" };
  const format = formatOf(buf);
  if (!format) {
    const head = [...buf.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    return {
      ...base,
      width: null,
      height: null,
      format: null,
      error: `not a PNG or JPEG file (starts with ${head})`,
    };
  }
  const header = headerSize(buf);
  if (header) return { ...base, width: header.width, height: header.height, format, error: null };
  // The header parser declines what it is unsure of (EXIF rotation, odd markers): ask libvips.
  try {
    const meta = await sharp(buf).metadata();
    if (!meta.width || !meta.height) throw new Error("no dimensions in the header");
    return { ...base, width: meta.width, height: meta.height, format, error: null };
  } catch (err) {
    return {
      ...base,
      width: null,
      height: null,
      format,
      error: `corrupt ${format}: ${(err as Error).message}`,
    };
  }
}

/**
 * Describes a split data set folder for the data set registry: class counts per split, image sizes
 * and formats, the files that are not readable images (with the reason), and a content
 * fingerprint. Reads every file once; layout problems throw the scanner's DatasetError.
 */
export async function describeDataset(root: string): Promise<DatasetDescription> {
  const scanned = await scanDataset(root);
  const items = SPLITS.flatMap((split) => scanned.splits[split].map((item) => ({ ...item, split })));
  const described = new Array<Awaited<ReturnType<typeof describeFile>>>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        described[i] = await describeFile(scanned.root, items[i]!.path);
      }
    }),
  );
  const fingerprint = createHash("sha256");
  const formats: Record<string, number> = {};
  const sizeCounts = new Map<string, { width: number; height: number; count: number }>();
  const unreadable: { path: string; reason: string }[] = [];
  const images: DescribedImage[] = [];
  let maskCount = 0;
  // The scan lists items in a fixed order (split, class, code-point file name), so the fingerprint is stable.
  items.forEach((item, i) => {
    const d = described[i]!;
    fingerprint.update(`${item.path}\t${item.label}\t${d.hash}\n`);
    formats[d.format ?? "unreadable"] = (formats[d.format ?? "unreadable"] ?? 0) + 1;
    if (d.error) unreadable.push({ path: item.path, reason: d.error });
    if (d.width !== null && d.height !== null) {
      const key = `${d.width}x${d.height}`;
      const s = sizeCounts.get(key) ?? { width: d.width, height: d.height, count: 0 };
      s.count++;
      sizeCounts.set(key, s);
    }
    if (item.maskPath) maskCount++;
    images.push({
      path: item.path,
      split: item.split,
      label: item.label,
      width: d.width,
      height: d.height,
      format: d.format,
      bytes: d.bytes,
      maskPath: item.maskPath ?? null,
      error: d.error,
    });
  });
  fingerprint.update(`classes\t${scanned.classNames.join("\t")}\n`);
  const sized = images.filter((im) => im.width !== null && im.height !== null);
  const extreme = (pick: (im: DescribedImage) => number, fn: (...v: number[]) => number) =>
    sized.length === 0 ? null : sized.reduce((acc, im) => fn(acc, pick(im)), pick(sized[0]!));
  return {
    root: scanned.root,
    classNames: scanned.classNames,
    fingerprint: fingerprint.digest("hex"),
    imageCount: items.length,
    classCounts: scanned.counts,
    formats,
    sizes: {
      minWidth: extreme((im) => im.width!, Math.min),
      maxWidth: extreme((im) => im.width!, Math.max),
      minHeight: extreme((im) => im.height!, Math.min),
      maxHeight: extreme((im) => im.height!, Math.max),
      common: [...sizeCounts.values()].sort((a, b) => b.count - a.count || a.width - b.width).slice(0, 10),
    },
    unreadable,
    maskCount,
    images,
  };
}
