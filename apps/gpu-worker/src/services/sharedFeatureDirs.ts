import type { ArtifactStore } from "@xnn/artifacts";
import type { SharedFeatureDirs } from "../training/trainInThread";

/** Where shared backbone features live in the artifact store: one entry per content hash. */
export const SHARED_FEATURES_PREFIX = "features";

/**
 * Shared backbone features (packages/ml sharedFeatures.ts) in the artifact store, so that FE runs
 * on any host find the feature pass an earlier run made: keys are content hashes, so an entry
 * never changes once written, and two runs that write the same key write the same bytes.
 */
export function artifactFeatureDirs(artifacts: ArtifactStore): SharedFeatureDirs {
  const uriOf = (key: string) => artifacts.uriFor(`${SHARED_FEATURES_PREFIX}/${key}`);
  return {
    async get(key) {
      const uri = uriOf(key);
      const manifest = await artifacts.stat(uri);
      return manifest ? artifacts.getDir(uri, { sha256: manifest.sha256 }) : null;
    },
    async put(key, dir) {
      if (await artifacts.stat(uriOf(key))) return;
      await artifacts.putDir(dir, `${SHARED_FEATURES_PREFIX}/${key}`);
    },
  };
}
