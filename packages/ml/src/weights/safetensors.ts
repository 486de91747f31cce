import * as fs from "node:fs/promises";
import { numel, type SourceTensors, WeightsImportError } from "./source.js";

// The safetensors layout (huggingface/safetensors): an 8-byte little-endian header length N, N bytes
// of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}, then the raw
// little-endian tensor bytes, offsets relative to the end of the header.
const BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
// A header larger than this is not a weights file (the format's own reference limit is 100 MB).
const MAX_HEADER = 100_000_000;

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export async function readSafetensors(
  file: string,
): Promise<{ tensors: SourceTensors; metadata: Record<string, string> }> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (err) {
    throw new WeightsImportError(`cannot read ${file}: ${(err as Error).message}`, file);
  }
  const fail = (why: string, tensor?: string): never => {
    throw new WeightsImportError(`${file}: not a valid safetensors file: ${why}`, file, tensor);
  };
  if (buf.length < 8) fail(`${buf.length} bytes, shorter than the 8-byte header length`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER) fail(`header length ${headerLen} is implausible`);
  if (8 + headerLen > buf.length)
    fail(`header of ${headerLen} bytes runs past the end of the file (${buf.length} bytes; truncated?)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8")) as Record<string, unknown>;
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header))
    fail("header is not a JSON object");
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors: SourceTensors = new Map();
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const e = raw as HeaderEntry;
    const width = BYTES[e?.dtype];
    if (width === undefined) fail(`tensor '${name}' has unsupported dtype '${String(e?.dtype)}'`, name);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isInteger(d) || d < 0))
      fail(`tensor '${name}' has a malformed shape`, name);
    const [begin, end] = Array.isArray(e.data_offsets) ? e.data_offsets : [Number.NaN, Number.NaN];
    const n = numel(e.shape);
    if (
      !Number.isInteger(begin) ||
      !Number.isInteger(end) ||
      begin < 0 ||
      end - begin !== n * (width as number)
    )
      fail(
        `tensor '${name}' has data_offsets [${e.data_offsets}] that do not fit shape [${e.shape}] of ${e.dtype}`,
        name,
      );
    if (end > dataLen)
      fail(
        `tensor '${name}' ends at byte ${end} of the data but the file holds ${dataLen} (truncated?)`,
        name,
      );
    tensors.set(name, { shape: e.shape, data: toFloat32(buf, dataStart + begin, n, e.dtype) });
  }
  return { tensors, metadata };
}

function toFloat32(buf: Buffer, offset: number, n: number, dtype: string): Float32Array {
  const out = new Float32Array(n);
  switch (dtype) {
    case "F32":
      // slice() copies into a fresh, aligned buffer (the tensor's offset in the file need not be).
      return new Float32Array(buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + 4 * n));
    case "F64":
      for (let i = 0; i < n; i++) out[i] = buf.readDoubleLE(offset + 8 * i);
      break;
    case "F16":
      for (let i = 0; i < n; i++) out[i] = halfToFloat(buf.readUInt16LE(offset + 2 * i));
      break;
    case "BF16": {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = buf.readUInt16LE(offset + 2 * i) << 16;
      break;
    }
    case "I64":
      for (let i = 0; i < n; i++) out[i] = Number(buf.readBigInt64LE(offset + 8 * i));
      break;
    case "I32":
      for (let i = 0; i < n; i++) out[i] = buf.readInt32LE(offset + 4 * i);
      break;
    case "I16":
      for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(offset + 2 * i);
      break;
    case "I8":
      for (let i = 0; i < n; i++) out[i] = buf.readInt8(offset + i);
      break;
    default:
      for (let i = 0; i < n; i++) out[i] = buf.readUInt8(offset + i);
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
