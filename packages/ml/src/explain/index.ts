export {
  classMeanGray,
  MEAN_BASELINE_IMAGES,
  modelBaseline,
  type ResolvedBaseline,
  type StoredBaseline,
  setModelBaseline,
} from "./baseline.js";
export {
  type ExplainPredictionOptions,
  type ExplainPredictionResult,
  explainPrediction,
} from "./explainPrediction.js";
export {
  type FoldOptions,
  type FoldReport,
  foldBatchNorm,
  foldBatchNormWithReport,
  prepareForExplanation,
  ReLU6,
} from "./foldBatchNorm.js";
export { type ImageHeader, readImageHeader } from "./imageHeader.js";
export { WEIGHT_GRADIENT_KERNELS, withInputGradientsOnly } from "./inputGradientsOnly.js";
export {
  blackBaseline,
  DEFAULT_IG_MAX_STEPS,
  DEFAULT_IG_RULE,
  DEFAULT_IG_STEPS,
  DEFAULT_IG_TOLERANCE,
  IG_BATCH_BUDGET_BYTES,
  IG_SCHEME_REVISION,
  type IgOutput,
  type IntegratedGradientsOptions,
  type IntegratedGradientsResult,
  igPathCounts,
  integratedGradients,
  pointsPerBatch,
  refinementRoundPoints,
  resolveIgScheme,
} from "./integratedGradients.js";
export { loadMask, positiveMaskShare } from "./maskShare.js";
export {
  integratePath,
  type PathQuadrature,
  type PathQuadratureOptions,
  type PathSample,
  type QuadratureRule,
} from "./pathQuadrature.js";
export {
  deletionInsertionAuc,
  type ExplanationQuality,
  type ExplanationQualityOptions,
  explanationQuality,
  type ProbeScore,
  probeSet,
  qualityLogFields,
  runExplanationQuality,
} from "./quality.js";
export {
  absPercentile,
  grayFromNormalised,
  type OverlayScale,
  overlayScale,
  pixelAttributions,
  type RenderOverlayOptions,
  renderOverlay,
} from "./renderOverlay.js";
