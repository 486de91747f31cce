import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import path from "node:path";

const ENTRIES = "entries";
const TMP = "tmp";
/** A temp download older than this belongs to a process that died; it can go. */
const STALE_TMP_MS = 6 * 60 * 60 * 1000;

/**
 * A host-local, bounded cache of downloaded artifacts, least recently used first out, shared by
 * every process on the host. Entries are filled in a private temp directory and renamed into
 * place, so no process ever sees half an entry; when two processes fetch the same artifact at
 * once, the first rename wins and the other copy is dropped. Recency is the entry's mtime.
 */
export class LocalArtifactCache {
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    this.dir = path.resolve(dir);
  }

  private entryDir(id: string): string {
    if (!/^[0-9a-f]{16,64}$/.test(id)) throw new Error(`bad cache id ${id}`);
    return path.join(this.dir, ENTRIES, id);
  }

  /** The entry's directory when present (and marks it used), else null. */
  async get(id: string): Promise<string | null> {
    const dir = this.entryDir(id);
    try {
      const now = new Date();
      await fs.utimes(dir, now, now);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  /**
   * Runs `fill` on an empty temp directory and moves the result in as entry `id`, then evicts
   * least recently used entries until the cache fits `maxBytes` (never the entry just added).
   */
  async put(id: string, sizeBytes: number, fill: (tmpDir: string) => Promise<void>): Promise<string> {
    const target = this.entryDir(id);
    await fs.mkdir(path.join(this.dir, ENTRIES), { recursive: true });
    const tmp = path.join(this.dir, TMP, `${id}-${process.pid}-${randomBytes(4).toString("hex")}`);
    await fs.mkdir(tmp, { recursive: true });
    try {
      await fill(tmp);
      await fs.writeFile(`${target}.size.tmp-${path.basename(tmp)}`, String(sizeBytes));
      await fs.rename(`${target}.size.tmp-${path.basename(tmp)}`, `${target}.size`);
      try {
        await fs.rename(tmp, target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Another process on this host finished the same entry first: use theirs.
        if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
      }
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
    const now = new Date();
    await fs.utimes(target, now, now);
    await this.evict(id);
    return target;
  }

  /** Drops one entry (a corrupt one, say). */
  async remove(id: string): Promise<void> {
    const dir = this.entryDir(id);
    const trash = path.join(this.dir, TMP, `evict-${id}-${process.pid}-${randomBytes(4).toString("hex")}`);
    await fs.mkdir(path.join(this.dir, TMP), { recursive: true });
    try {
      // Renamed away first: a reader never sees an entry half deleted.
      await fs.rename(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    await fs.rm(`${dir}.size`, { force: true });
    await fs.rm(trash, { recursive: true, force: true });
  }

  /** Entries with their size and last use, oldest first. */
  async entries(): Promise<{ id: string; sizeBytes: number; usedAt: number }[]> {
    const root = path.join(this.dir, ENTRIES);
    let names: string[];
    try {
      names = await fs.readdir(root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const out: { id: string; sizeBytes: number; usedAt: number }[] = [];
    for (const id of names) {
      if (id.includes(".")) continue;
      try {
        const st = await fs.stat(path.join(root, id));
        const size = Number(await fs.readFile(path.join(root, `${id}.size`), "utf8").catch(() => "0"));
        out.push({ id, sizeBytes: Number.isFinite(size) ? size : 0, usedAt: st.mtimeMs });
      } catch {
        /* evicted by another process meanwhile */
      }
    }
    return out.sort((a, b) => a.usedAt - b.usedAt);
  }

  async totalBytes(): Promise<number> {
    return (await this.entries()).reduce((s, e) => s + e.sizeBytes, 0);
  }

  private async evict(keep: string): Promise<void> {
    const all = await this.entries();
    let total = all.reduce((s, e) => s + e.sizeBytes, 0);
    for (const e of all) {
      if (total <= this.maxBytes) break;
      if (e.id === keep) continue;
      await this.remove(e.id);
      total -= e.sizeBytes;
    }
    await this.sweepStaleTemps();
  }

  private async sweepStaleTemps(): Promise<void> {
    const root = path.join(this.dir, TMP);
    const names = await fs.readdir(root).catch(() => [] as string[]);
    const cutoff = Date.now() - STALE_TMP_MS;
    for (const n of names) {
      const st = await fs.stat(path.join(root, n)).catch(() => null);
      if (st && st.mtimeMs < cutoff) await fs.rm(path.join(root, n), { recursive: true, force: true });
    }
  }
}
