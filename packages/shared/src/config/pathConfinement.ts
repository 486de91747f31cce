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
  /** Every run's `data.dir` and `model.pretrainedDir` must resolve inside one of these (XNN_DATA_ROOTS). */
  dataRoots: readonly string[];
  /**
   * The artifact store (ARTIFACT_URL) when it is `s3://bucket/prefix`: an s3:// directory is
   * accepted inside it, where the workers fetch it from. Absent: no s3:// directory is accepted.
   */
  artifactUrl?: string;
}

/**
 * The run config fields that name a directory the workers read: each one is confined alike.
 * A path is relative to XNN_DATA_ROOT or absolute, or an `s3://` URL in the artifact store.
 */
export const CONFINED_DIR_FIELDS = ["data.dir", "model.pretrainedDir"] as const;
export type ConfinedDirField = (typeof CONFINED_DIR_FIELDS)[number];

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

/**
 * Why a directory a run reads (`field`, one of CONFINED_DIR_FIELDS) is refused under confinement,
 * or null: a path must resolve inside a data root, as written and after following symlinks; an
 * s3:// URL must lie inside the artifact store, without `..` or empty segments.
 */
export function confinedDirProblem(
  field: ConfinedDirField,
  dir: string,
  confinement: PathConfinement,
): string | null {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\u0000-\u001f\u007f]/.test(dir)) return `${field} ${JSON.stringify(dir)} contains control characters`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(dir)) return urlProblem(field, dir, confinement.artifactUrl);
  const abs = path.resolve(confinement.dataRoot, dir);
  if (confinement.dataRoots.some((root) => isConfinedTo(abs, root))) return null;
  return `${field} ${JSON.stringify(dir)} is outside the data roots (XNN_DATA_ROOTS); relative paths resolve against XNN_DATA_ROOT`;
}

function urlProblem(field: ConfinedDirField, url: string, artifactUrl: string | undefined): string | null {
  const store = artifactUrl?.startsWith("s3://") ? s3Parts(artifactUrl) : null;
  const outside = store
    ? `${field} ${JSON.stringify(url)} is outside the artifact store (ARTIFACT_URL ${artifactUrl}); name a prefix inside it`
    : `${field} ${JSON.stringify(url)} is a URL, but the API's artifact store (ARTIFACT_URL) is not s3://; name a folder inside the data roots (XNN_DATA_ROOTS)`;
  if (!store || !url.startsWith("s3://")) return outside;
  const parts = s3Parts(url);
  if (!parts || parts.bucket !== store.bucket) return outside;
  const segments = parts.prefix.split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) return outside;
  if (store.prefix !== "" && !parts.prefix.startsWith(`${store.prefix}/`)) return outside;
  return null;
}

/** `s3://bucket/prefix` split, the prefix without its trailing slashes; null when there is no bucket. */
function s3Parts(url: string): { bucket: string; prefix: string } | null {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m?.[1]) return null;
  return { bucket: m[1], prefix: (m[2] ?? "").replace(/\/+$/, "") };
}
