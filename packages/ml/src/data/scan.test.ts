import { mkdir, rm, symlink } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetError } from "./errors.js";
import { scanDataset } from "./scan.js";
import { solidPng, tempDir, writeFiles } from "./testUtil.js";

let png: Buffer;
const dirs: string[] = [];

async function makeDataset(files: string[], extra: Record<string, Buffer | string> = {}): Promise<string> {
  const root = await tempDir("xnn-scan-");
  dirs.push(root);
  const map: Record<string, Buffer | string> = { ...extra };
  for (const f of files) map[f] = png;
  await writeFiles(root, map);
  return root;
}

function full(classes = ["normal", "bacteria", "virus"]): string[] {
  return ["train", "val", "test"].flatMap((s) => classes.map((c) => `${s}/${c}/a.png`));
}

async function scanError(root: string): Promise<DatasetError> {
  try {
    await scanDataset(root);
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error("scanDataset did not throw");
}

beforeAll(async () => {
  png = await solidPng(4, 4, 128);
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe("scanDataset", () => {
  it("lists classes sorted, items per split in deterministic order, counts and masks", async () => {
    const root = await makeDataset(
      [...full(), "train/bacteria/b.PNG", "train/bacteria/c.JpEg", "train/virus/z.jpg", "test/normal/m.png"],
      {
        "train/bacteria/notes.txt": "ignore me",
        "train/bacteria/.hidden.png": "x",
        "masks/train/bacteria/a.png": "m",
        "masks/train/bacteria/c.png": "m",
        "predict/normal/p.png": "p",
      },
    );
    const ds = await scanDataset(root);
    expect(ds.root).toBe(path.resolve(root));
    expect(ds.classNames).toEqual(["bacteria", "normal", "virus"]);
    expect(ds.splits.train.map((i) => i.path)).toEqual([
      "train/bacteria/a.png",
      "train/bacteria/b.PNG",
      "train/bacteria/c.JpEg",
      "train/normal/a.png",
      "train/virus/a.png",
      "train/virus/z.jpg",
    ]);
    expect(ds.splits.train.map((i) => i.label)).toEqual([0, 0, 0, 1, 2, 2]);
    expect(ds.counts).toEqual({
      train: { bacteria: 3, normal: 1, virus: 2 },
      val: { bacteria: 1, normal: 1, virus: 1 },
      test: { bacteria: 1, normal: 2, virus: 1 },
    });
    expect(ds.splits.train[0]?.maskPath).toBe("masks/train/bacteria/a.png");
    expect(ds.splits.train[1]?.maskPath).toBeUndefined();
    // JPEG image -> PNG mask with the same stem.
    expect(ds.splits.train[2]?.maskPath).toBe("masks/train/bacteria/c.png");
    expect(ds.splits.val[0]?.maskPath).toBeUndefined();
    // Same input, same output.
    expect(await scanDataset(root)).toEqual(ds);
  });

  it("follows symlinked class folders", async () => {
    const store = await makeDataset(["store/virus/x.png"]);
    const root = await makeDataset(full(["normal"]));
    for (const split of ["train", "val", "test"]) {
      await symlink(path.join(store, "store", "virus"), path.join(root, split, "virus"));
    }
    const ds = await scanDataset(root);
    expect(ds.classNames).toEqual(["normal", "virus"]);
    expect(ds.splits.test.map((i) => i.path)).toEqual(["test/normal/a.png", "test/virus/x.png"]);
  });

  it("names an empty class folder", async () => {
    const root = await makeDataset(full().filter((f) => f !== "val/virus/a.png"));
    await mkdir(path.join(root, "val/virus"), { recursive: true });
    await writeFiles(root, { "val/virus/readme.txt": "no images here" });
    const err = await scanError(root);
    expect(err.code).toBe("EMPTY_CLASS");
    expect(err.path).toBe(path.join(root, "val", "virus"));
    expect(err.message).toContain(path.join(root, "val", "virus"));
  });

  it("names the folder of a class missing from one split", async () => {
    const root = await makeDataset(full().filter((f) => !f.startsWith("test/bacteria/")));
    const err = await scanError(root);
    expect(err.code).toBe("CLASS_MISMATCH");
    expect(err.message).toContain(path.join(root, "test", "bacteria"));
  });

  it("rejects mismatched class sets (an extra class in one split)", async () => {
    const root = await makeDataset([...full(), "val/covid/a.png"]);
    const err = await scanError(root);
    expect(err.code).toBe("CLASS_MISMATCH");
    // The splits lacking "covid" are the ones named.
    expect(err.message).toContain(path.join(root, "train", "covid"));
    expect(err.message).toContain("val");
  });

  it("rejects a missing root, a missing split and an empty split, naming the folder", async () => {
    const missing = path.join(await tempDir(), "nope");
    dirs.push(path.dirname(missing));
    const e1 = await scanError(missing);
    expect(e1.code).toBe("MISSING_ROOT");
    expect(e1.message).toContain(missing);

    const root = await makeDataset(full().filter((f) => !f.startsWith("val/")));
    const e2 = await scanError(root);
    expect(e2.code).toBe("MISSING_SPLIT");
    expect(e2.message).toContain(path.join(root, "val"));

    await mkdir(path.join(root, "val"));
    const e3 = await scanError(root);
    expect(e3.code).toBe("EMPTY_SPLIT");
    expect(e3.message).toContain(path.join(root, "val"));
  });
});
