import { existsSync, statSync } from "node:fs";
import path from "node:path";
import type { ArtifactStore, StoredDir } from "./artifactStore";
import { parseS3Url } from "./s3ArtifactStore";

export const DATA_SPLITS = ["train", "val", "test"] as const;

/**
 * The local folder a run config's `data.dir` names: a path (relative ones against XNN_DATA_ROOT),
 * or `s3://bucket/prefix` as written by `pnpm data:push`, synced into this host's cache (once per
 * host, verified file by file, fetched again only when the pushed listing changes).
 */
export async function localDataDir(store: ArtifactStore, dir: string, dataRoot: string): Promise<string> {
  if (!dir.startsWith("s3://")) return path.resolve(dataRoot, dir);
  return syncedDir(store, dir, "data.dir");
}

/**
 * A directory a config names by `s3://` URL (`key`: the config key, for the message), synced into
 * the host's data cache: read for a whole run, so never evicted by checkpoint downloads.
 */
export async function syncedDir(store: ArtifactStore, url: string, key: string): Promise<string> {
  if (!store.dataSets)
    throw new Error(
      `${key} ${url} is in an object store, but this host's ARTIFACT_URL (${store.url}) is not s3://`,
    );
  parseS3Url(url);
  return store.dataSets.getDir(url);
}

/** Checks the split layout, then stores `localDir` at `s3://bucket/prefix` (manifest last). */
export async function pushDataSet(store: ArtifactStore, localDir: string, url: string): Promise<StoredDir> {
  const missing = DATA_SPLITS.filter(
    (s) => !existsSync(path.join(localDir, s)) || !statSync(path.join(localDir, s)).isDirectory(),
  );
  if (missing.length > 0)
    throw new Error(
      `${localDir} is not a split data set: no ${missing.map((m) => `${m}/`).join(", ")} folder (run pnpm data:split first)`,
    );
  return pushDir(store, localDir, url, "datasets");
}

/** Stores `localDir` at `url`, a prefix inside the store's bucket and prefix (`folder`: the example's first path part). */
export async function pushDir(
  store: ArtifactStore,
  localDir: string,
  url: string,
  folder: string,
): Promise<StoredDir> {
  const { bucket, prefix } = parseS3Url(url);
  if (!prefix) throw new Error(`${url}: give a prefix, e.g. s3://${bucket}/${folder}/name`);
  if (store.kind !== "s3" || !store.url.startsWith(`s3://${bucket}`))
    throw new Error(`push: the store (${store.url}) is not bucket ${bucket}`);
  const base = parseS3Url(store.url).prefix;
  if (base && !prefix.startsWith(`${base}/`)) throw new Error(`${url} is outside ${store.url}`);
  return store.putDir(localDir, base ? prefix.slice(base.length + 1) : prefix);
}
