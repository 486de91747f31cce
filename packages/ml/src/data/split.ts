import { copyFile, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { DatasetError } from "./errors.js";
import { abortOutput, commitOutput, prepareOutput, splitCounts } from "./output.js";
import { createRng, mixSeed, shuffleInPlace, stringSeed } from "./prng.js";
import { byCodePoint, isImageFile, MASKS_DIR, SPLITS, type SplitName } from "./scan.js";

export interface SplitOptions {
  /** `<raw>/<class>/*`; an optional `<raw>/masks/<class>/<image name>` is carried along. */
  raw: string;
  out: string;
  seed?: number;
  force?: boolean;
  /** Fractions for train/val/test. Default [0.8, 0.1, 0.1]. */
  fractions?: readonly [number, number, number];
  onProgress?: (done: number, total: number) => void;
}

export interface SplitSummary {
  out: string;
  classNames: string[];
  counts: Record<SplitName | "predict", Record<string, number>>;
  /** Relative to `out`. */
  predict: string[];
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The original wrangling step: one image per class is held out to `predict/` first (so it can never
 * leak into training), then each class is shuffled with the seed and cut 80/10/10. Files are
 * copied; the raw folder is never modified. Same raw folder + seed => byte-identical output.
 */
export async function splitDataset(opts: SplitOptions): Promise<SplitSummary> {
  const raw = path.resolve(opts.raw);
  const seed = opts.seed ?? 42;
  const fractions = opts.fractions ?? [0.8, 0.1, 0.1];
  if (!(await isDir(raw))) throw new DatasetError("MISSING_ROOT", raw, `Raw data folder not found: ${raw}`);

  const classNames = (await readdir(raw, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith(".") && e.name !== MASKS_DIR)
    .map((e) => e.name)
    .sort(byCodePoint);
  if (classNames.length === 0) {
    throw new DatasetError("EMPTY_SPLIT", raw, `Raw data folder has no class folders: ${raw}`);
  }

  const files: Record<string, string[]> = {};
  for (const cls of classNames) {
    const dir = path.join(raw, cls);
    const names = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith(".") && isImageFile(e.name))
      .map((e) => e.name)
      .sort(byCodePoint);
    // 1 predict + at least one per split.
    if (names.length < 4) {
      throw new DatasetError(
        names.length === 0 ? "EMPTY_CLASS" : "BAD_ARGUMENT",
        dir,
        `Class folder ${dir} has ${names.length} image(s); need at least 4 (1 for predict/, 1 each for train/val/test)`,
      );
    }
    files[cls] = names;
  }

  // Validated before touching the output so a bad raw folder leaves everything as it was.
  const { out, tmp } = await prepareOutput(opts.out, opts.force ?? false, [raw]);
  try {
    const counts = { train: {}, val: {}, test: {}, predict: {} } as SplitSummary["counts"];
    const predict: string[] = [];
    const plan: { from: string; split: SplitName | "predict"; cls: string; name: string }[] = [];
    for (const cls of classNames) {
      const names = [...(files[cls] as string[])];
      // Keyed by class name, not position, so adding a class does not reshuffle the others.
      const rng = createRng(mixSeed(seed, stringSeed(cls)));
      shuffleInPlace(names, rng);
      const held = names.shift() as string;
      plan.push({ from: held, split: "predict", cls, name: held });
      counts.predict[cls] = 1;
      predict.push(`predict/${cls}/${held}`);
      const [nTrain, nVal] = splitCounts(names.length, fractions);
      const parts: Record<SplitName, string[]> = {
        train: names.slice(0, nTrain),
        val: names.slice(nTrain, nTrain + nVal),
        test: names.slice(nTrain + nVal),
      };
      for (const split of SPLITS) {
        if (parts[split].length === 0) {
          throw new DatasetError(
            "BAD_ARGUMENT",
            path.join(raw, cls),
            `Class folder ${path.join(raw, cls)} is too small: split ${split} would be empty`,
          );
        }
        counts[split][cls] = parts[split].length;
        for (const name of parts[split].sort(byCodePoint)) plan.push({ from: name, split, cls, name });
      }
    }

    for (const split of [...SPLITS, "predict"]) {
      for (const cls of classNames) await mkdir(path.join(tmp, split, cls), { recursive: true });
    }
    // Copies are I/O-bound; a few in flight hide per-file latency without flooding the disk.
    let done = 0;
    let next = 0;
    const copyOne = async (p: (typeof plan)[number]) => {
      await copyFile(path.join(raw, p.cls, p.from), path.join(tmp, p.split, p.cls, p.name));
      const mask = path.join(raw, MASKS_DIR, p.cls, p.from);
      if (
        await stat(mask).then(
          (st) => st.isFile(),
          () => false,
        )
      ) {
        const maskDir = path.join(tmp, MASKS_DIR, p.split, p.cls);
        await mkdir(maskDir, { recursive: true });
        await copyFile(mask, path.join(maskDir, p.name));
      }
      opts.onProgress?.(++done, plan.length);
    };
    await Promise.all(
      Array.from({ length: Math.min(8, plan.length) }, async () => {
        while (next < plan.length) await copyOne(plan[next++] as (typeof plan)[number]);
      }),
    );
    await writeFile(
      path.join(tmp, "split.json"),
      `${JSON.stringify({ raw, seed, fractions, classNames, counts, predict }, null, 2)}\n`,
    );
    await commitOutput(tmp, out);
    return { out, classNames, counts, predict };
  } catch (err) {
    await abortOutput(tmp);
    throw err;
  }
}
