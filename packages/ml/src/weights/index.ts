export { WEIGHTS_USAGE, weightsCommand } from "./command.js";
export { type ImportWeightsOptions, type ImportWeightsResult, importWeights } from "./importWeights.js";
export {
  describeNormalization,
  IMAGENET_RGB,
  type ImportedWeights,
  type InputNormalization,
  importedWeightsSchema,
  KERAS_CAFFE_MODE,
  KERAS_TF_MODE,
  sameNormalization,
} from "./manifest.js";
export { readSafetensors } from "./safetensors.js";
export { WeightsImportError } from "./source.js";
