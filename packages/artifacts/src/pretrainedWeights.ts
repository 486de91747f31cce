import { existsSync } from "node:fs";
import path from "node:path";
import type { ArtifactStore, StoredDir } from "./artifactStore";
import { pushDir, syncedDir } from "./dataSets";

/** What every weights directory `model.pretrainedDir` loads has (`xnn weights import`, tensorflowjs_converter). */
const MODEL_JSON = "model.json";

/**
 * The local folder a run config's `model.pretrainedDir` names: a path (relative ones against
 * XNN_DATA_ROOT, like `data.dir`), or `s3://bucket/prefix` as written by `pnpm weights:push`,
 * synced into this host's data cache (once per host, verified file by file, fetched again only
 * when the weights are pushed again).
 */
export async function localPretrainedDir(
  store: ArtifactStore,
  dir: string,
  dataRoot: string,
): Promise<string> {
  if (!dir.startsWith("s3://")) return path.resolve(dataRoot, dir);
  return syncedDir(store, dir, "model.pretrainedDir");
}

/** Checks that `localDir` holds weights (model.json), then stores it at `s3://bucket/prefix` (manifest last). */
export async function pushPretrainedWeights(
  store: ArtifactStore,
  localDir: string,
  url: string,
): Promise<StoredDir> {
  if (!existsSync(path.join(localDir, MODEL_JSON)))
    throw new Error(
      `${localDir} holds no ${MODEL_JSON}: not a weights directory (make one with pnpm xnn weights import)`,
    );
  return pushDir(store, localDir, url, "weights");
}
