export {
  type AugmentOptions,
  type CropBox,
  IMAGENET_MEAN,
  IMAGENET_STD,
  sampleResizedCrop,
} from "./augment.js";
export { type ClassWeightSpec, computeClassWeights, toClassWeightMap } from "./classWeights.js";
export { type DatasetDescription, type DescribedImage, describeDataset } from "./describe.js";
export { DatasetError, type DatasetErrorCode } from "./errors.js";
export {
  type BatchOptions,
  type BatchStream,
  batches,
  DEFAULT_DECODE_CONCURRENCY,
  type DecodeImageOptions,
  decodeImage,
  decodeImageBuffer,
  formatSkipped,
  type ImageBatch,
  type SkippedImage,
  type SkipReport,
} from "./loader.js";
export { createRng, mixSeed, type Rng, shuffleInPlace } from "./prng.js";
export {
  type DatasetItem,
  MASKS_DIR,
  type ScannedDataset,
  SPLITS,
  type SplitName,
  scanDataset,
} from "./scan.js";
export { type SplitOptions, type SplitSummary, splitDataset } from "./split.js";
export {
  generateSynthetic,
  type Phantom,
  renderPhantom,
  SYNTH_BALANCE,
  SYNTH_CLASSES,
  type SynthClass,
  type SynthOptions,
  type SynthSummary,
  synthCounts,
} from "./synth.js";
export { renderThumbnail } from "./thumbnail.js";
