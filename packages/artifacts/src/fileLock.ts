import * as fs from "node:fs/promises";
import path from "node:path";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `fn` holding an exclusive lock file, shared by every process on the host (O_EXCL create).
 * A lock left by a process that died is taken over; waiting is polled, as fs has no lock events.
 * Two processes taking over the same stale lock at once can both get in: the lock only saves
 * duplicate downloads, correctness comes from the cache's rename into place.
 */
export async function withFileLock<T>(
  file: string,
  fn: () => Promise<T>,
  opts: { pollMs?: number; timeoutMs?: number } = {},
): Promise<T> {
  const pollMs = opts.pollMs ?? 100;
  const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60 * 1000);
  await fs.mkdir(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      const fh = await fs.open(file, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(await fs.readFile(file, "utf8").catch(() => ""));
      // An empty file is a holder between open and write; only a dead pid is stale.
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
        await fs.rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for lock ${file} (held by pid ${holder})`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(file, { force: true });
  }
}
