import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { ArtifactStore, PutDirOptions, StoredDir } from "./artifactStore";
import {
  buildDirManifest,
  type DirManifest,
  MANIFEST_SUFFIX,
  parseDirManifest,
  verifyDirAgainstManifest,
} from "./dirManifest";
import { ArtifactIntegrityError, ArtifactNotFoundError, ArtifactStoreUnavailableError } from "./errors";

const tag = () => `${process.pid}-${randomBytes(4).toString("hex")}`;

/** Writes `text` to a temp name and renames it: readers see the old file or the whole new one. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${tag()}`;
  const fh = await fs.open(tmp, "w");
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
}

/**
 * ARTIFACT_DIR on local disk (the default). Directories are read in place after verification, so
 * nothing is cached; when a worker's run directory already sits at the target (ARTIFACT_DIR is
 * both scratch and store), putDir only hashes it and writes the manifest.
 */
export class FileArtifactStore implements ArtifactStore {
  readonly kind = "file" as const;
  readonly url: string;
  constructor(readonly root: string) {
    this.root = path.resolve(root);
    this.url = pathToFileURL(this.root).href;
  }

  uriFor(key: string): string {
    return pathToFileURL(this.pathFor(key)).href;
  }

  private pathFor(key: string): string {
    const p = path.resolve(this.root, key);
    if (!p.startsWith(this.root + path.sep)) throw new Error(`artifact key ${key} leaves ${this.root}`);
    return p;
  }

  private localPath(uri: string): string {
    if (!uri.startsWith("file://")) throw new Error(`the file artifact store cannot read ${uri}`);
    return fileURLToPath(uri);
  }

  async putDir(localDir: string, key: string, opts: PutDirOptions = {}): Promise<StoredDir> {
    const target = this.pathFor(key);
    const src = path.resolve(localDir);
    if (src !== target) {
      // Copy beside the target, then swap it in: a crash leaves the old copy or none, never half.
      await fs.mkdir(path.dirname(target), { recursive: true });
      const tmp = `${target}.tmp-${tag()}`;
      await fs.cp(src, tmp, { recursive: true });
      await fs.rm(`${target}${MANIFEST_SUFFIX}`, { force: true });
      const old = `${target}.old-${tag()}`;
      if (existsSync(target)) await fs.rename(target, old);
      await fs.rename(tmp, target);
      await fs.rm(old, { recursive: true, force: true });
    }
    const manifest = await buildDirManifest(target, opts);
    await writeFileAtomic(`${target}${MANIFEST_SUFFIX}`, `${JSON.stringify(manifest, null, 1)}\n`);
    return {
      uri: pathToFileURL(target).href,
      sha256: manifest.sha256,
      sizeBytes: Object.values(manifest.files).reduce((s, f) => s + f.sizeBytes, 0),
    };
  }

  async stat(uri: string): Promise<DirManifest | null> {
    const dir = this.localPath(uri);
    let text: string;
    try {
      text = await fs.readFile(`${dir}${MANIFEST_SUFFIX}`, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return legacyCheckpointManifest(dir, uri);
      throw err;
    }
    return parseDirManifest(text, uri);
  }

  async getDir(uri: string, opts: { sha256?: string } = {}): Promise<string> {
    const manifest = await this.stat(uri);
    if (!manifest) throw new ArtifactNotFoundError(uri);
    const dir = this.localPath(uri);
    await verifyDirAgainstManifest(dir, manifest, uri, opts.sha256, ArtifactIntegrityError);
    return dir;
  }

  async delete(uri: string): Promise<void> {
    const dir = this.localPath(uri);
    await fs.rm(`${dir}${MANIFEST_SUFFIX}`, { force: true });
    await fs.rm(dir, { recursive: true, force: true });
  }

  async verify(opts: { write?: boolean } = {}): Promise<void> {
    try {
      if (opts.write) {
        await fs.mkdir(this.root, { recursive: true });
        const probe = path.join(this.root, `.xnn-probe-${tag()}`);
        await fs.writeFile(probe, "ok");
        await fs.rm(probe, { force: true });
      } else await fs.access(this.root).catch(() => fs.mkdir(this.root, { recursive: true }));
    } catch (err) {
      throw new ArtifactStoreUnavailableError(
        `ARTIFACT_URL ${this.url}: the artifact directory is not usable: ${(err as Error).message}`,
      );
    }
  }

  close(): void {}
}

/**
 * Checkpoints stored before this store existed (ARTIFACT_DIR, no store manifest) still carry
 * packages/ml's own manifest.json, also written last: read through it, they stay usable and are
 * verified the same way. Anything else without a store manifest is absent.
 */
async function legacyCheckpointManifest(dir: string, uri: string): Promise<DirManifest | null> {
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(path.join(dir, "manifest.json"), "utf8"));
  } catch {
    return null;
  }
  const m = json as {
    format?: unknown;
    sha256?: unknown;
    files?: Record<string, { sha256: string; sizeBytes: number }>;
  };
  if (m.format !== "xnn-checkpoint/1" || typeof m.sha256 !== "string" || !m.files) return null;
  return parseDirManifest(
    JSON.stringify({
      format: "xnn-artifact-dir/1",
      sha256: m.sha256,
      digestOf: ["model.json", "weights.bin"],
      files: m.files,
      meta: { legacyCheckpoint: true },
      createdAt: new Date(0).toISOString(),
    }),
    uri,
  );
}
