import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PYTHON, requirePyTorch } from "./pytorch.js";

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "reference_models.py");

export interface Reference {
  arch: string;
  size: number;
  /** NHWC, already normalised. */
  input: number[];
  logits: number[];
  logitsShape: [number, number];
}

/**
 * Runs the PyTorch reference script for `cases` into `dir` (weights files + CASE.json). Fails, never
 * skips, when PyTorch is missing: the equivalence proof is the point of these tests.
 */
export async function makeReferences(dir: string, cases: string[]): Promise<void> {
  await requirePyTorch(["torch", "torchvision", "h5py"]);
  await promisify(execFile)(PYTHON, [SCRIPT, dir, ...cases], { maxBuffer: 16 << 20 });
}

export async function readReference(dir: string, c: string): Promise<Reference> {
  return JSON.parse(await fs.readFile(path.join(dir, `${c}.json`), "utf8")) as Reference;
}

/** Writes a safetensors file from float32 tensors (for tests that doctor a reference file). */
export async function writeSafetensors(
  file: string,
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
): Promise<void> {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const parts = [
    len,
    Buffer.from(json),
    ...[...tensors.values()].map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
  ];
  await fs.writeFile(file, Buffer.concat(parts));
}
