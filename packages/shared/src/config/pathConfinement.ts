import { realpathSync } from "node:fs";
import path from "node:path";

/**
 * Where a sweep submitted over the network may point. The API sets this; the CLI, reading files its
 * user named on their own machine, does not.
 */
export interface PathConfinement {
  /** `base:` must name a file or directory inside this one (XNN_CONF_DIR). */
  confDir: string;
  /** Relative `data.dir` resolves against this (XNN_DATA_ROOT, as on workers). */
  dataRoot: string;
  /** Every run's `data.dir` must resolve inside one of these (XNN_DATA_ROOTS). */
  dataRoots: readonly string[];
}

/** True when `child` is `parent` or below it, comparing resolved absolute paths. */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * The path with every symlink in its existing part resolved; the part that does not exist yet is
 * appended as written. A data directory may exist only on the workers, not on the API host, so a
 * missing path is judged by its nearest existing ancestor.
 */
export function realpathOfExistingPart(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(head), ...tail.reverse());
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return abs;
      tail.push(path.basename(head));
      head = parent;
    }
  }
}

/** Inside `parent` both as written and after following symlinks (so a link cannot lead out). */
export function isConfinedTo(child: string, parent: string): boolean {
  return (
    isInside(path.resolve(child), path.resolve(parent)) &&
    isInside(realpathOfExistingPart(child), realpathOfExistingPart(parent))
  );
}

/**
 * Why a `base:` value is refused under confinement, or null. The value must be a relative path
 * without `..` and without control characters, and stay inside the configuration directory after
 * symlinks are followed. The message never depends on what the named file contains.
 */
export function baseProblem(base: string, confDir: string): string | null {
  const outside = `${JSON.stringify(base)} is outside the configuration directory (XNN_CONF_DIR); name a file or folder inside it, relative to it`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\u0000-\u001f\u007f]/.test(base)) return `${JSON.stringify(base)} contains control characters`;
  if (path.isAbsolute(base) || base.startsWith("~")) return outside;
  if (base.split(/[\\/]+/).includes("..")) return outside;
  if (!isConfinedTo(path.resolve(confDir, base), confDir)) return outside;
  return null;
}

/** Why a resolved run's `data.dir` is refused under confinement, or null. */
export function dataDirProblem(dir: string, confinement: PathConfinement): string | null {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\u0000-\u001f\u007f]/.test(dir)) return `data.dir ${JSON.stringify(dir)} contains control characters`;
  const abs = path.resolve(confinement.dataRoot, dir);
  if (confinement.dataRoots.some((root) => isConfinedTo(abs, root))) return null;
  return `data.dir ${JSON.stringify(dir)} is outside the data roots (XNN_DATA_ROOTS); relative paths resolve against XNN_DATA_ROOT`;
}
