import { accessSync, constants, statSync } from "node:fs";
import path from "node:path";

/** Absolute path of an executable found on PATH (like `command -v`), or null. */
export function findOnPath(name: string, pathEnv = process.env.PATH ?? ""): string | null {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here, or not executable: keep looking, as a shell would.
    }
  }
  return null;
}
