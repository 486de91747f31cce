import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DatasetError } from "./errors.js";

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * Guards an output folder before a generator writes it. Writing happens in a sibling temp folder
 * that `commitOutput` renames into place, so a crash or a refused run never leaves a half-written
 * dataset (or a half-deleted old one) behind.
 */
export async function prepareOutput(
  out: string,
  force: boolean,
  protect: readonly string[] = [],
): Promise<{ out: string; tmp: string }> {
  const abs = path.resolve(out);
  // --force deletes `out`; never let that reach the input data, the working tree or $HOME.
  const forbidden = [path.parse(abs).root, process.cwd(), os.homedir()];
  if (forbidden.some((f) => isInside(f, abs))) {
    throw new DatasetError(
      "BAD_ARGUMENT",
      abs,
      `Refusing to use ${abs} as output: it contains ${process.cwd()} or $HOME`,
    );
  }
  for (const p of protect) {
    const pa = path.resolve(p);
    if (isInside(pa, abs) || isInside(abs, pa)) {
      throw new DatasetError("BAD_ARGUMENT", abs, `Output folder ${abs} overlaps the input folder ${pa}`);
    }
  }
  if (await exists(abs)) {
    const st = await stat(abs);
    if (!st.isDirectory()) {
      throw new DatasetError("OUTPUT_NOT_EMPTY", abs, `Output path exists and is not a folder: ${abs}`);
    }
    const entries = await readdir(abs);
    if (entries.length > 0 && !force) {
      throw new DatasetError(
        "OUTPUT_NOT_EMPTY",
        abs,
        `Output folder is not empty: ${abs} (${entries.length} entries). Nothing was changed; pass --force to replace it.`,
      );
    }
  }
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.tmp-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  return { out: abs, tmp };
}

export async function commitOutput(tmp: string, out: string): Promise<void> {
  await rm(out, { recursive: true, force: true });
  await rename(tmp, out);
}

export async function abortOutput(tmp: string): Promise<void> {
  await rm(tmp, { recursive: true, force: true });
}

/** Largest-remainder rounding: integer parts that sum exactly to `total`, ties to the earlier index. */
export function apportion(total: number, fractions: readonly number[]): number[] {
  const raw = fractions.map((f) => f * total);
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => ({ i, rem: r - Math.floor(r) })).sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    out[i] = (out[i] as number) + 1;
    left--;
  }
  return out;
}

/** 80/10/10 stratified counts for one class: val and test get round(10%), train the rest. */
export function splitCounts(
  n: number,
  fractions: readonly [number, number, number] = [0.8, 0.1, 0.1],
): [number, number, number] {
  const val = Math.round(n * fractions[1]);
  const test = Math.round(n * fractions[2]);
  return [n - val - test, val, test];
}
