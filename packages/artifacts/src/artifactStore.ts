import type { DirManifest } from "./dirManifest";

export interface PutDirOptions {
  /**
   * Files whose concatenated bytes give the artifact's sha256 (the value Postgres records), in
   * order; default: every file, sorted by name. A checkpoint uses ["model.json", "weights.bin"].
   */
  digestOf?: string[];
  /** Small facts stored in the manifest, readable with `stat` without downloading the files. */
  meta?: Record<string, unknown>;
}

export interface StoredDir {
  /** Where the directory lives: `file:///abs/path` or `s3://bucket/prefix/key`. */
  uri: string;
  sha256: string;
  sizeBytes: number;
}

/**
 * Where checkpoints, resume state and FE checkpoints live beyond one process. A directory is
 * stored file by file and then a manifest (sha256 of every file), written last; readers ignore a
 * directory without one, so an upload that dies half way is never seen, and a retry simply
 * uploads again. Every read checks every byte against the manifest.
 */
export interface ArtifactStore {
  /** "file" reads in place; "s3" downloads into the host's cache. */
  readonly kind: "file" | "s3";
  /** ARTIFACT_URL as configured (never holds credentials: those come from the SDK's env). */
  readonly url: string;
  /** The URI a `key` (e.g. `runs/<id>/checkpoint`) has in this store. */
  uriFor(key: string): string;
  /**
   * The same bucket with a cache of its own for data sets (s3 only): never evicted by checkpoint
   * downloads while a run reads from it.
   */
  readonly dataSets?: ArtifactStore;
  putDir(localDir: string, key: string, opts?: PutDirOptions): Promise<StoredDir>;
  /**
   * A verified local directory holding the artifact at `uri`. `sha256` is the value recorded in
   * Postgres: a different one in the store (or any corrupt byte) throws ArtifactIntegrityError.
   * Throws ArtifactNotFoundError when there is no complete artifact at `uri`.
   */
  getDir(uri: string, opts?: { sha256?: string }): Promise<string>;
  /** The manifest of a complete artifact, or null when there is none. */
  stat(uri: string): Promise<DirManifest | null>;
  /** Removes the artifact (manifest first, so it is absent at once). Missing is not an error. */
  delete(uri: string): Promise<void>;
  /** Throws ArtifactStoreUnavailableError naming ARTIFACT_URL when the store cannot be used. */
  verify(opts?: { write?: boolean }): Promise<void>;
  close(): void;
}
