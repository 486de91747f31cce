import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

/**
 * Written last, next to a stored directory: a directory without one is absent (an upload that
 * died half way), and every file read from the store is checked against it.
 */
export const dirManifestSchema = z.object({
  format: z.literal("xnn-artifact-dir/1"),
  /** sha256 of the bytes of `digestOf` concatenated in that order: what Postgres records. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  digestOf: z.array(z.string()),
  files: z.record(
    z.string(),
    z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), sizeBytes: z.number() }),
  ),
  /** Small caller-defined facts (e.g. the epoch of a resume state), readable without a download. */
  meta: z.record(z.string(), z.unknown()).default({}),
  createdAt: z.string(),
});
export type DirManifest = z.infer<typeof dirManifestSchema>;

export const MANIFEST_SUFFIX = ".xnn-dir.json";

export function sha256Hex(...parts: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** The files under `dir`, as forward-slash relative paths, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else if (e.isFile()) out.push(r);
    }
  }
  await walk("");
  return out.sort();
}

function checkRelPath(rel: string, where: string): void {
  if (rel === "" || rel.startsWith("/") || rel.split("/").some((p) => p === ".." || p === "." || p === ""))
    throw new Error(`${where}: unsafe file name ${JSON.stringify(rel)} in the artifact manifest`);
}

/** Hashes every file of a local directory into a manifest (nothing is written). */
export async function buildDirManifest(
  dir: string,
  opts: { digestOf?: string[]; meta?: Record<string, unknown> } = {},
): Promise<DirManifest> {
  const names = await listFiles(dir);
  if (names.length === 0) throw new Error(`artifact directory ${dir} is empty or missing`);
  const files: DirManifest["files"] = {};
  for (const n of names) {
    const stat = await fs.stat(path.join(dir, n));
    files[n] = { sha256: await sha256File(path.join(dir, n)), sizeBytes: stat.size };
  }
  const digestOf = opts.digestOf ?? names;
  for (const n of digestOf)
    if (!files[n]) throw new Error(`artifact directory ${dir} has no ${n} (listed in digestOf)`);
  return {
    format: "xnn-artifact-dir/1",
    sha256: await concatSha256(dir, digestOf),
    digestOf,
    files,
    meta: opts.meta ?? {},
    createdAt: new Date().toISOString(),
  };
}

async function concatSha256(dir: string, names: string[]): Promise<string> {
  const h = createHash("sha256");
  for (const n of names)
    for await (const chunk of createReadStream(path.join(dir, n))) h.update(chunk as Buffer);
  return h.digest("hex");
}

export function parseDirManifest(text: string, uri: string): DirManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`artifact manifest of ${uri} is not JSON: ${(err as Error).message}`);
  }
  const parsed = dirManifestSchema.safeParse(json);
  if (!parsed.success)
    throw new Error(
      `artifact manifest of ${uri} is invalid: ${parsed.error.issues[0]?.message ?? "unknown"}`,
    );
  for (const rel of Object.keys(parsed.data.files)) checkRelPath(rel, uri);
  return parsed.data;
}

/**
 * Checks a local copy against its manifest: every file's sha256 and size, no extra files, and the
 * recorded content sha256 (and the caller's, from Postgres, when given). Throws naming the object.
 */
export async function verifyDirAgainstManifest(
  dir: string,
  manifest: DirManifest,
  uri: string,
  expectedSha256: string | undefined,
  IntegrityError: new (uri: string, message: string) => Error,
  /** Files just hashed on their way in: only the whole-content digest is left to check. */
  filesVerified = false,
): Promise<void> {
  if (expectedSha256 !== undefined && manifest.sha256 !== expectedSha256)
    throw new IntegrityError(
      uri,
      `artifact ${uri}: sha256 ${manifest.sha256} in the store does not match the recorded ${expectedSha256}`,
    );
  // One pass: files named in digestOf also feed the whole-content hash, in that order.
  const whole = createHash("sha256");
  const inDigest = new Set(manifest.digestOf);
  const order = filesVerified
    ? manifest.digestOf
    : [...manifest.digestOf, ...Object.keys(manifest.files).filter((r) => !inDigest.has(r))];
  for (const rel of order) {
    const f = manifest.files[rel];
    if (!f)
      throw new IntegrityError(uri, `artifact ${uri}: manifest lists ${rel} in digestOf but not in files`);
    const h = createHash("sha256");
    try {
      for await (const chunk of createReadStream(path.join(dir, rel))) {
        if (!filesVerified) h.update(chunk as Buffer);
        if (inDigest.has(rel)) whole.update(chunk as Buffer);
      }
    } catch (err) {
      throw new IntegrityError(uri, `artifact ${uri}: file ${rel} is missing (${(err as Error).message})`);
    }
    const actual = filesVerified ? f.sha256 : h.digest("hex");
    if (actual !== f.sha256)
      throw new IntegrityError(
        uri,
        `artifact ${uri}: file ${rel} has sha256 ${actual}, expected ${f.sha256}; refusing to use it`,
      );
  }
  const content = whole.digest("hex");
  if (content !== manifest.sha256)
    throw new IntegrityError(
      uri,
      `artifact ${uri}: content sha256 ${content} does not match ${manifest.sha256}`,
    );
}
