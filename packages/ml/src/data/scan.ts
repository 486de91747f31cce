import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { DatasetError } from "./errors.js";

export const SPLITS = ["train", "val", "test"] as const;
export type SplitName = (typeof SPLITS)[number];

/** Root-level folder holding lesion masks: `<root>/masks/<split>/<class>/<image name>`. */
export const MASKS_DIR = "masks";

const IMAGE_EXT = new Set([".png", ".jpg", ".jpeg"]);

export interface DatasetItem {
  /** Relative to the dataset root, with forward slashes so it is stable across platforms. */
  path: string;
  /** Index into `classNames`. */
  label: number;
  /** Relative to the dataset root; present only when a mask file exists for this image. */
  maskPath?: string;
}

export interface ScannedDataset {
  /** Absolute root path. */
  root: string;
  classNames: string[];
  splits: Record<SplitName, DatasetItem[]>;
  counts: Record<SplitName, Record<string, number>>;
}

export function isImageFile(name: string): boolean {
  return IMAGE_EXT.has(path.extname(name).toLowerCase());
}

/**
 * Plain code-point order rather than localeCompare: the class -> label mapping must not change with
 * the machine's locale, or a model trained on one host would mislabel on another.
 */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function listDirs(p: string): Promise<string[]> {
  const entries = await readdir(p, { withFileTypes: true });
  const names: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith(".")) continue;
    // Class folders may be symlinks into a shared image store.
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDir(path.join(p, e.name))))) names.push(e.name);
  }
  return names.sort(byCodePoint);
}

async function listImages(p: string): Promise<string[]> {
  const entries = await readdir(p, { withFileTypes: true });
  // Symlinked files count too: datasets are often assembled with links into a shared store.
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith(".") && isImageFile(e.name))
    .map((e) => e.name)
    .sort(byCodePoint);
}

async function listMaskNames(dir: string): Promise<Set<string>> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return new Set(entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name));
  } catch {
    return new Set();
  }
}

function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}

/**
 * Scans `<root>/{train,val,test}/<class>/*.{png,jpg,jpeg}`. Any layout problem throws a
 * DatasetError naming the offending folder; a model must never silently train on a dataset
 * whose splits disagree on classes, since labels are folder indices.
 */
export async function scanDataset(root: string): Promise<ScannedDataset> {
  const absRoot = path.resolve(root);
  if (!(await isDir(absRoot))) {
    throw new DatasetError("MISSING_ROOT", absRoot, `Dataset root folder not found: ${absRoot}`);
  }

  const classesBySplit = {} as Record<SplitName, string[]>;
  for (const split of SPLITS) {
    const splitDir = path.join(absRoot, split);
    if (!(await isDir(splitDir))) {
      throw new DatasetError(
        "MISSING_SPLIT",
        splitDir,
        `Split folder not found: ${splitDir} (expected ${SPLITS.map((s) => path.join(absRoot, s)).join(", ")})`,
      );
    }
    const classes = await listDirs(splitDir);
    if (classes.length === 0) {
      throw new DatasetError("EMPTY_SPLIT", splitDir, `Split folder has no class folders: ${splitDir}`);
    }
    classesBySplit[split] = classes;
  }

  // The union is the reference so the message can name the exact missing folder whichever split
  // happens to be the odd one out.
  const classNames = [...new Set(SPLITS.flatMap((s) => classesBySplit[s]))].sort(byCodePoint);
  for (const split of SPLITS) {
    const have = new Set(classesBySplit[split]);
    const missing = classNames.filter((c) => !have.has(c));
    if (missing.length > 0) {
      const missingDirs = missing.map((c) => path.join(absRoot, split, c));
      const where = SPLITS.filter((s) => s !== split && missing.some((c) => classesBySplit[s].includes(c)));
      throw new DatasetError(
        "CLASS_MISMATCH",
        missingDirs[0] as string,
        `Class folder missing: ${missingDirs.join(", ")} (class${missing.length > 1 ? "es" : ""} ` +
          `${missing.join(", ")} exist in ${where.join("/")}; every split needs the same classes)`,
      );
    }
  }

  const splits = {} as Record<SplitName, DatasetItem[]>;
  const counts = {} as Record<SplitName, Record<string, number>>;
  for (const split of SPLITS) {
    const items: DatasetItem[] = [];
    const splitCounts: Record<string, number> = {};
    for (let label = 0; label < classNames.length; label++) {
      const cls = classNames[label] as string;
      const classDir = path.join(absRoot, split, cls);
      const files = await listImages(classDir);
      if (files.length === 0) {
        throw new DatasetError(
          "EMPTY_CLASS",
          classDir,
          `Class folder has no images (*.png, *.jpg, *.jpeg): ${classDir}`,
        );
      }
      const maskDir = path.join(absRoot, MASKS_DIR, split, cls);
      const masks = await listMaskNames(maskDir);
      for (const file of files) {
        const item: DatasetItem = { path: toPosix(path.join(split, cls, file)), label };
        // Masks are always PNG (binary); a JPEG image's mask keeps the stem.
        const candidates = [file, `${path.parse(file).name}.png`];
        const mask = candidates.find((m) => masks.has(m));
        if (mask !== undefined) item.maskPath = toPosix(path.join(MASKS_DIR, split, cls, mask));
        items.push(item);
      }
      splitCounts[cls] = files.length;
    }
    splits[split] = items;
    counts[split] = splitCounts;
  }

  return { root: absRoot, classNames, splits, counts };
}
