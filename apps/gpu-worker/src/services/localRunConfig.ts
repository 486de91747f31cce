import { type ArtifactStore, localDataDir, localPretrainedDir } from "@xnn/artifacts";
import { configHash } from "@xnn/ml";
import type { PipelineConfig } from "@xnn/shared";

/** Reads one stored artifact; the worker's wraps it to fail the run on a missing or corrupt one. */
export type ArtifactRead = <T>(what: string, read: () => Promise<T>) => Promise<T>;

/**
 * The run's config as this host trains it: `data.dir` and `model.pretrainedDir` made local (an
 * s3:// data set or weights synced into this host's cache folder, a relative path resolved against
 * XNN_DATA_ROOT). The resume hash is taken from the config as submitted, before any of that: the
 * same on every host, so a run that moves to a host with another cache folder or data root resumes
 * from its resume state instead of starting over.
 */
export async function localRunConfig(
  submitted: PipelineConfig,
  host: { artifacts: ArtifactStore; dataRoot: string },
  read: ArtifactRead = (_, fn) => fn(),
): Promise<{ config: PipelineConfig; resumeHash: string }> {
  const resumeHash = configHash(submitted);
  const config = structuredClone(submitted);
  config.data.dir = await read(`data set ${submitted.data.dir}`, () =>
    localDataDir(host.artifacts, submitted.data.dir, host.dataRoot),
  );
  const weights = submitted.model.pretrainedDir;
  if (weights)
    config.model.pretrainedDir = await read(`pretrained weights ${weights}`, () =>
      localPretrainedDir(host.artifacts, weights, host.dataRoot),
    );
  return { config, resumeHash };
}
