import { stat } from "node:fs/promises";

/**
 * The decoded bytes of images read without augmentation (validation, test, FT and FE without
 * augmentation, predictions), kept per process so that epoch 2 onwards does not decode the same
 * files again. Least recently used out, bounded by bytes: XNN_DECODE_CACHE_MB (default 256; 0
 * turns it off). A 64 px gray image is 4 KB, a 224 px colour one 150 KB.
 *
 * Keyed by path, output size, grayscale and mask path, and checked against the file's size and
 * modification time, so an image rewritten in place is decoded again. Entries are shared: callers
 * must not modify them.
 */
export class DecodeCache<T extends { bytes: number }> {
  private readonly entries = new Map<string, { value: T; mtimeMs: number; size: number }>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  async get(key: string, absPath: string, decode: () => Promise<T>): Promise<T> {
    if (this.maxBytes <= 0) return decode();
    const s = await stat(absPath);
    const e = this.entries.get(key);
    if (e && e.mtimeMs === s.mtimeMs && e.size === s.size) {
      // Map order is insertion order: re-inserting makes it the most recent.
      this.entries.delete(key);
      this.entries.set(key, e);
      this.hits++;
      return e.value;
    }
    this.misses++;
    const value = await decode();
    if (e) this.remove(key);
    if (value.bytes <= this.maxBytes) {
      this.entries.set(key, { value, mtimeMs: s.mtimeMs, size: s.size });
      this.bytes += value.bytes;
      for (const [k] of this.entries) {
        if (this.bytes <= this.maxBytes) break;
        this.remove(k);
      }
    }
    return value;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.value.bytes;
  }
}

/** XNN_DECODE_CACHE_MB as bytes (default 256 MB); a value that is not a number >= 0 is an error naming the variable. */
export function decodeCacheBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.XNN_DECODE_CACHE_MB;
  if (raw === undefined || raw === "") return 256 * 1024 * 1024;
  const mb = Number(raw);
  if (!Number.isFinite(mb) || mb < 0)
    throw new Error(`XNN_DECODE_CACHE_MB must be a number of megabytes >= 0, got "${raw}"`);
  return Math.floor(mb * 1024 * 1024);
}
