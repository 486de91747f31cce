import { readFileSync, rmSync, writeFileSync } from "node:fs";

export class DemoRunningError extends Error {
  override name = "DemoRunningError";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else, which still means "running".
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One demo per home at a time: two PGlite processes on one data directory would corrupt it. A lock
 * left by a demo that was killed (its pid no longer exists) is taken over.
 */
export function acquireDemoLock(lockFile: string): () => void {
  try {
    const pid = Number(readFileSync(lockFile, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new DemoRunningError(
        `another demo (pid ${pid}) is using ${lockFile.replace(/\/[^/]+$/, "")}; stop it first, or set XNN_DEMO_HOME to another folder`,
      );
    }
  } catch (err) {
    if (err instanceof DemoRunningError) throw err;
    // No lock file: nobody else is running here.
  }
  writeFileSync(lockFile, `${process.pid}\n`);
  return () => rmSync(lockFile, { force: true });
}
