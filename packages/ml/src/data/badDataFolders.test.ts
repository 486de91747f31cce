// The data-folder part of the bad-input catalogue (issue 12): a data set that is missing, empty or
// inconsistent is refused by scanDataset with a DatasetError naming the folder at fault, before any
// training starts, and nothing is written into it.
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetError, type DatasetErrorCode } from "./errors.js";
import { decodeImage } from "./loader.js";
import { scanDataset } from "./scan.js";
import { solidPng, tempDir, writeFiles } from "./testUtil.js";

let png: Buffer;
let root: string;

const splits = (classes: string[], skip: string[] = []) =>
  ["train", "val", "test"]
    .flatMap((s) => classes.map((c) => `${s}/${c}/a.png`))
    .filter((f) => !skip.includes(f));

beforeAll(async () => {
  png = await solidPng(4, 4, 128);
  root = await tempDir("xnn-bad-data-");
  const files: Record<string, Buffer | string> = {};
  for (const f of splits(["normal", "virus"])) files[`mismatch/${f}`] = png;
  delete files["mismatch/val/virus/a.png"];
  files["mismatch/val/other/a.png"] = png;
  for (const f of splits(["normal", "virus"])) files[`empty-class/${f}`] = png;
  delete files["empty-class/test/virus/a.png"];
  files["empty-class/test/virus/notes.txt"] = "no images here";
  files["no-classes/train/readme.txt"] = "x";
  files["no-classes/val/readme.txt"] = "x";
  files["no-classes/test/readme.txt"] = "x";
  files["empty/.keep"] = "";
  files["corrupt/train/normal/bad.png"] = Buffer.concat([png.subarray(0, 8), Buffer.alloc(32, 0xff)]);
  await writeFiles(root, files);
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function listTree(): Promise<string[]> {
  return (await readdir(root, { recursive: true })).map(String).sort();
}

describe("scanDataset on a bad data folder", () => {
  it.each<[string, string, DatasetErrorCode, string, RegExp]>([
    ["a missing data dir", "nope", "MISSING_ROOT", "nope", /Dataset root folder not found: .*nope/],
    ["an empty data dir", "empty", "MISSING_SPLIT", "empty/train", /Split folder not found: .*empty\/train/],
    ["splits without class folders", "no-classes", "EMPTY_SPLIT", "no-classes/train", /has no class folders/],
    ["a class folder without images", "empty-class", "EMPTY_CLASS", "empty-class/test/virus", /virus/],
    [
      "splits that disagree on classes",
      "mismatch",
      "CLASS_MISMATCH",
      "mismatch/train/other",
      /Class folder missing: .*other/,
    ],
  ])("%s: DatasetError naming the folder, nothing written", async (_, dir, code, at, message) => {
    const before = await listTree();
    const err = await scanDataset(path.join(root, dir)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).code).toBe(code);
    expect((err as DatasetError).path).toBe(path.join(root, at));
    expect((err as DatasetError).message).toMatch(message);
    expect(await listTree()).toEqual(before);
  });

  it("a corrupt image: decoding rejects, nothing written", async () => {
    const before = await listTree();
    await expect(
      decodeImage(path.join(root, "corrupt/train/normal/bad.png"), { imageSize: 32 }),
    ).rejects.toThrow(/png|image|corrupt/i);
    expect(await listTree()).toEqual(before);
  });
});
