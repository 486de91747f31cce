import { cp, mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * Where checkpoints live beyond the run. The processor only sees this interface, so an
 * S3-compatible store can replace the local one without touching it.
 */
export interface ArtifactStore {
  /** Copies a local directory into the store under `key`; returns its URI. */
  putDir(localDir: string, key: string): Promise<string>;
  /** A local directory holding the artifact at `uri` (downloaded first for remote stores). */
  localDir(uri: string): Promise<string>;
}

/** ARTIFACT_DIR on local disk (or a shared mount such as NFS, which multi-host resume needs). */
export class LocalArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  async putDir(localDir: string, key: string): Promise<string> {
    const target = path.join(this.root, key);
    if (path.resolve(localDir) !== path.resolve(target)) {
      await mkdir(path.dirname(target), { recursive: true });
      await cp(localDir, target, { recursive: true, force: true });
    }
    return pathToFileURL(target).href;
  }

  async localDir(uri: string): Promise<string> {
    if (!uri.startsWith("file://")) throw new Error(`LocalArtifactStore cannot read ${uri}`);
    return fileURLToPath(uri);
  }
}
