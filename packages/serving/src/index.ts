export * from "./explainClient";
export { ExplainImageError, type ExplainInput, ExplainThread } from "./explainInThread";
export { explainKeyOf } from "./explainKeyOf";
export * from "./explainWorker";
export type { ExplainThreadBoot, ExplainThreadOutcome } from "./protocol";
export { type WarmModel, WarmModels, weightBytes } from "./warmModels";
