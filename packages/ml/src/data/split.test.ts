import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetError } from "./errors.js";
import { scanDataset } from "./scan.js";
import { splitDataset } from "./split.js";
import { solidPng, tempDir, writeFiles } from "./testUtil.js";

const SIZES = { bacteria: 23, normal: 14, virus: 11 };
let base: string;
let raw: string;

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

async function treeContents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of await listTree(dir)) out[f] = (await readFile(path.join(dir, f))).toString("base64");
  return out;
}

beforeAll(async () => {
  base = await tempDir("xnn-split-");
  raw = path.join(base, "raw");
  const files: Record<string, Buffer | string> = { "bacteria/README.txt": "not an image" };
  let k = 0;
  for (const [cls, n] of Object.entries(SIZES)) {
    for (let i = 0; i < n; i++) {
      // Distinct bytes per file so content checks catch mix-ups.
      files[`${cls}/${cls}_${String(i).padStart(2, "0")}.png`] = await solidPng(2, 2, k++);
    }
  }
  files["masks/bacteria/bacteria_03.png"] = await solidPng(2, 2, 255);
  await writeFiles(raw, files);
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("splitDataset", () => {
  it("holds out one image per class, splits the rest 80/10/10 per class, copies without touching raw", async () => {
    const before = await treeContents(raw);
    const out = path.join(base, "out-a");
    const summary = await splitDataset({ raw, out, seed: 42 });
    expect(await treeContents(raw)).toEqual(before);

    expect(summary.classNames).toEqual(["bacteria", "normal", "virus"]);
    for (const [cls, n] of Object.entries(SIZES)) {
      const m = n - 1;
      const val = Math.round(m * 0.1);
      const test = Math.round(m * 0.1);
      expect(summary.counts.predict[cls]).toBe(1);
      expect(summary.counts.val[cls]).toBe(val);
      expect(summary.counts.test[cls]).toBe(test);
      expect(summary.counts.train[cls]).toBe(m - val - test);
    }
    const tree = await listTree(out);
    const images = tree.filter((f) => !f.startsWith("masks") && f.endsWith(".png"));
    // Every raw image lands exactly once, under its own class.
    const names = images.map((f) => path.basename(f));
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBe(23 + 14 + 11);
    for (const f of images) {
      const [, cls, name] = f.split(path.sep);
      expect(name?.startsWith(`${cls}_`)).toBe(true);
      expect(
        (await readFile(path.join(out, f))).equals(await readFile(path.join(raw, cls ?? "", name ?? ""))),
      ).toBe(true);
    }
    expect(tree.filter((f) => f.startsWith(`predict${path.sep}`)).length).toBe(3);
    expect(summary.predict.length).toBe(3);
    // The output is a valid dataset, with the mask carried beside its image.
    const ds = await scanDataset(out);
    expect(ds.classNames).toEqual(["bacteria", "normal", "virus"]);
    const masked = Object.values(ds.splits)
      .flat()
      .filter((i) => i.maskPath);
    const maskedPredict = tree.some(
      (f) => f === path.join("masks", "predict", "bacteria", "bacteria_03.png"),
    );
    expect(masked.length + (maskedPredict ? 1 : 0)).toBe(1);
  });

  it("is deterministic for a seed and changes with the seed", async () => {
    const a = path.join(base, "det-a");
    const b = path.join(base, "det-b");
    const c = path.join(base, "det-c");
    await splitDataset({ raw, out: a, seed: 7 });
    await splitDataset({ raw, out: b, seed: 7 });
    await splitDataset({ raw, out: c, seed: 8 });
    const ta = await listTree(a);
    expect(await listTree(b)).toEqual(ta);
    expect(await listTree(c)).not.toEqual(ta);
  });

  it("refuses a non-empty output without force, changing nothing; replaces it with force", async () => {
    const out = path.join(base, "busy");
    await writeFiles(out, { "keep.txt": "precious" });
    const rawBefore = await treeContents(raw);
    const err = await splitDataset({ raw, out, seed: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).code).toBe("OUTPUT_NOT_EMPTY");
    expect((err as DatasetError).message).toContain(out);
    expect(await listTree(out)).toEqual(["keep.txt"]);
    expect((await readdir(base)).filter((f) => f.includes(".tmp-"))).toEqual([]);
    await splitDataset({ raw, out, seed: 1, force: true });
    expect(await listTree(out)).not.toContain("keep.txt");
    expect(await treeContents(raw)).toEqual(rawBefore);
  });

  it("names folders in errors and refuses an output overlapping the raw folder", async () => {
    const bad = path.join(base, "raw-bad");
    await writeFiles(bad, {
      "normal/a.png": "x",
      "normal/b.png": "x",
      "normal/c.png": "x",
      "normal/d.png": "x",
      "virus/notes.txt": "x",
    });
    const e1 = await splitDataset({ raw: bad, out: path.join(base, "o1") }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(DatasetError);
    expect((e1 as Error).message).toContain(path.join(bad, "virus"));
    const e2 = await splitDataset({ raw: path.join(base, "nope"), out: path.join(base, "o2") }).catch(
      (e: unknown) => e,
    );
    expect((e2 as Error).message).toContain(path.join(base, "nope"));
    const e3 = await splitDataset({ raw, out: path.join(raw, "processed"), force: true }).catch(
      (e: unknown) => e,
    );
    expect((e3 as DatasetError).code).toBe("BAD_ARGUMENT");
    expect(await listTree(raw)).not.toContain(path.join("processed", "train"));
  });
});
