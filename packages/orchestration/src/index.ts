export { buildFlows, fineTuneFlow, type RunJobSource, runJob } from "./buildFlows";
export {
  type ReconcileAction,
  type ReconcileDeps,
  type ReconcileOptions,
  type ReconcileReport,
  type Reconciler,
  reconcileRuns,
  startReconciler,
} from "./reconcileRuns";
export {
  EnqueueError,
  type SubmitDeps,
  type SubmitOptions,
  type SubmitResult,
  submitSweep,
} from "./submitSweep";
