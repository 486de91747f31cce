import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import { describeDataset } from "./describe.js";
import { solidPng, tempDir, writeFiles } from "./testUtil.js";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function smallSet() {
  const root = await tempDir("xnn-describe-");
  dirs.push(root);
  const jpeg = await sharp(await solidPng(20, 10, [200, 10, 10]))
    .jpeg()
    .toBuffer();
  await writeFiles(root, {
    "train/a/1.png": await solidPng(16, 16, 10),
    "train/a/2.png": await solidPng(16, 16, 20),
    "train/b/1.jpg": jpeg,
    "val/a/1.png": await solidPng(16, 16, 30),
    "val/b/1.png": await solidPng(32, 24, 40),
    "test/a/1.png": await solidPng(16, 16, 50),
    "test/b/broken.png": "this is not an image",
    "masks/test/a/1.png": await solidPng(16, 16, 255),
  });
  return root;
}

describe("describeDataset", () => {
  it("counts classes per split, sizes and formats, and names unreadable files with the reason", async () => {
    const root = await smallSet();
    const d = await describeDataset(root);
    expect(d.classNames).toEqual(["a", "b"]);
    expect(d.classCounts).toEqual({ train: { a: 2, b: 1 }, val: { a: 1, b: 1 }, test: { a: 1, b: 1 } });
    expect(d.imageCount).toBe(7);
    expect(d.formats).toEqual({ png: 5, jpeg: 1, unreadable: 1 });
    expect(d.sizes).toMatchObject({ minWidth: 16, maxWidth: 32, minHeight: 10, maxHeight: 24 });
    expect(d.sizes.common[0]).toEqual({ width: 16, height: 16, count: 4 });
    expect(d.unreadable).toEqual([
      {
        path: "test/b/broken.png",
        reason: expect.stringMatching(/not a PNG or JPEG file \(starts with 74 68 69 73\)/),
      },
    ]);
    expect(d.maskCount).toBe(1);
    expect(d.images.find((im) => im.path === "test/a/1.png")).toMatchObject({
      split: "test",
      label: 0,
      format: "png",
      maskPath: "masks/test/a/1.png",
      error: null,
    });
    expect(d.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it("the fingerprint is stable for the same content and changes with any image's bytes", async () => {
    const root = await smallSet();
    const a = await describeDataset(root);
    const again = await describeDataset(root);
    expect(again.fingerprint).toBe(a.fingerprint);
    await writeFile(path.join(root, "train/a/2.png"), await solidPng(16, 16, 21));
    const changed = await describeDataset(root);
    expect(changed.fingerprint).not.toBe(a.fingerprint);
    expect(changed.classCounts).toEqual(a.classCounts);
  });
});
