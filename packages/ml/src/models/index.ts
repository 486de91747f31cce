export {
  type BuildModelOptions,
  type BuiltModel,
  buildModel,
  buildModelSkeleton,
  HEAD_PREFIX,
  INPUT_NAME,
  isHeadLayerName,
} from "./build.js";
export { CONVNEXT_V2, type ConvNeXtV2Config } from "./convnext_v2.js";
export { deriveSeed } from "./init.js";
export { GRN, hasWeights, isNormalizationLayer } from "./layers.js";
export { makeDivisible } from "./mobilenet_v2.js";
export { loadPretrainedBackbone } from "./pretrained.js";
export { configureStage, type Stage } from "./stages.js";
