/** Architectures the training engine can build; the sweep validator checks against this list. */
export const MODEL_NAMES = [
  "mobilenet_v2",
  "resnet18",
  "resnet50",
  "convnext_v2_atto",
  "convnext_v2_tiny",
] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export const STAGES = ["fe", "ft"] as const;
export type StageKind = (typeof STAGES)[number];

export const CLASS_WEIGHTING_MODES = ["none", "balanced"] as const;

/** The TensorFlow.js backends a worker or `pnpm train` can be asked for; `auto` picks the best one present. */
export const BACKEND_KINDS = ["auto", "tensorflow", "wasm", "cpu"] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** The model-registry alias of the version a task serves (one per task, enforced by the database). */
export const PRODUCTION_ALIAS = "production";
