export * from "./backend/index.js";
export * from "./data/index.js";
export { BEST_CHECKPOINT_DIR, trainPipeline, weightedCrossEntropy } from "./train/train.js";
export { configHash, readResumeState } from "./train/resume.js";
export * from "./train/types.js";
export * from "./models/index.js";
export * from "./checkpoint/index.js";
