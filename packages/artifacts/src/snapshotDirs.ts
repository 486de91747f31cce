import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import path from "node:path";
import { listFiles } from "./dirManifest";

/**
 * A consistent copy of directories that another thread replaces by rename-swap (resume state,
 * best checkpoint), made of hard links so it costs no copy: a swap during the snapshot is seen as
 * a changed inode and the snapshot is retried. Folders that do not exist are left out.
 * Returns the snapshot directory (the caller removes it) or null when none of `names` exists.
 */
export async function snapshotDirs(
  parent: string,
  names: string[],
  into: string,
  tries = 5,
): Promise<string | null> {
  const inodes = async () =>
    Promise.all(
      names.map((n) =>
        fs.stat(path.join(parent, n)).then(
          (s) => s.ino,
          () => null,
        ),
      ),
    );
  for (let attempt = 0; attempt < tries; attempt++) {
    const before = await inodes();
    if (before.every((i) => i === null)) return null;
    const snap = path.join(into, `.snapshot-${process.pid}-${randomBytes(4).toString("hex")}`);
    try {
      for (const [i, name] of names.entries()) {
        if (before[i] === null) continue;
        const src = path.join(parent, name);
        for (const rel of await listFiles(src)) {
          await fs.mkdir(path.dirname(path.join(snap, name, rel)), { recursive: true });
          await fs.link(path.join(src, rel), path.join(snap, name, rel));
        }
      }
      const after = await inodes();
      if (after.every((v, i) => v === before[i])) return snap;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        await fs.rm(snap, { recursive: true, force: true });
        throw err;
      }
    }
    await fs.rm(snap, { recursive: true, force: true });
  }
  throw new Error(`could not take a consistent snapshot of ${names.join(", ")} in ${parent}`);
}
