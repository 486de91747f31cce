export {
  type CheckpointManifest,
  CheckpointError,
  type CopyWeightsOptions,
  copyWeights,
  loadCheckpoint,
  MANIFEST_JSON,
  MODEL_JSON,
  readManifest,
  readModelArtifacts,
  type SaveCheckpointResult,
  saveCheckpoint,
  WEIGHTS_BIN,
} from "./checkpoint.js";
