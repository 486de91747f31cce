import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";

export async function tempDir(prefix = "xnn-data-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A PNG whose every pixel is `value` (grayscale, or RGB when given 3 values). */
export async function solidPng(
  width: number,
  height: number,
  value: number | [number, number, number],
): Promise<Buffer> {
  const ch = typeof value === "number" ? 1 : 3;
  const data = Buffer.alloc(width * height * ch);
  for (let i = 0; i < width * height; i++) {
    if (typeof value === "number") data[i] = value;
    else for (let c = 0; c < 3; c++) data[i * 3 + c] = value[c] as number;
  }
  return sharp(data, { raw: { width, height, channels: ch } })
    .png()
    .toBuffer();
}

/** Grayscale PNG from a per-pixel function. */
export async function patternPng(
  width: number,
  height: number,
  f: (x: number, y: number) => number,
): Promise<Buffer> {
  const data = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return sharp(data, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
}

export async function writeFiles(root: string, files: Record<string, Buffer | string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, content);
  }
}
