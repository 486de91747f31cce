// Browser-safe (zod only, no Node imports): the dashboard imports this entry as `@xnn/shared/records`.
// Every shape that crosses a process boundary as data is defined here once: the records the training
// thread hands the worker, the rows the worker stores, and every answer of the API.
// Constants the dashboard uses at run time live in zod-free modules (models, auditActions): with
// "sideEffects": false the bundler then leaves zod out of the dashboard.
export {
  BACKEND_KINDS,
  type BackendKind,
  MODEL_NAMES,
  type ModelName,
  PRODUCTION_ALIAS,
  STAGES,
  type StageKind,
} from "../models";
export * from "./audit";
export * from "./auditActions";
export * from "./auth";
export * from "./common";
export * from "./datasets";
export * from "./epoch";
export * from "./evaluation";
export * from "./events";
export * from "./explanation";
export * from "./modelVersions";
export * from "./runs";
export * from "./serving";
export * from "./sweepAnalysis";
export * from "./sweeps";
export * from "./workers";
