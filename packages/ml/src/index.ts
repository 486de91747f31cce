export * from "./backend/index.js";
export * from "./data/index.js";
export { BEST_CHECKPOINT_DIR, trainPipeline } from "./train/train.js";
export { type PipelineResult, runPipeline } from "./train/runPipeline.js";
export type { EpochEnd, LoopState, TrainingHook } from "./train/hooks/trainingHook.js";
export { STOP_AFTER_EPOCH_SEEN } from "./train/hooks/stopRequestHook.js";
export { splitHead } from "./train/featureCache.js";
export {
  type FeatureStore,
  featureStoreOverDirs,
  type SharedFeatures,
  SHARED_FEATURES_VERSION,
} from "./train/sharedFeatures.js";
export {
  createTrainStep,
  probeStep,
  type TrainStepOptions,
  weightedCrossEntropy,
} from "./train/trainStep.js";
export {
  chooseMicroBatchSize,
  MEMORY_BUDGET_FRACTION,
  type MicroBatchPlan,
  planFields,
  planMicroBatch,
  splitEvenly,
} from "./train/microBatch.js";
export { heapGuard, isHeapError } from "./train/heapError.js";
export { type KernelPlace, PhaseProfiler, type ProfileEntry } from "./train/profile.js";
export { configHash, readResumeState } from "./train/resume.js";
export * from "./train/types.js";
export * from "./models/index.js";
export * from "./checkpoint/index.js";
export * from "./metrics/index.js";
export { AdamW, type AdamWOptions } from "./optim/adamw.js";
// The training step's building blocks, for code that reproduces trainPipeline's step (bench/train.ts;
// initBackend installs its gradients).
export { setBatchNormMomentum, withBatchNormRestored } from "./train/batchnorm.js";
// The library's own tfjs instance, for callers (bench/) that build tensors for its models without
// depending on @tensorflow/tfjs themselves.
export * as tf from "@tensorflow/tfjs";
export * from "./train/callbacks.js";
export { loadPipelineFile, type Override, parseOverride } from "./train/loadPipeline.js";
export * from "./explain/index.js";
