export { buildFlows, fineTuneFlow, type RunJobSource, runJob } from "./buildFlows";
export { ashaRungs, type Curve, type CurvePoint, decide, type PruneDecision } from "./pruneRule";
export { type PruneAction, type Pruner, type PrunerDeps, prunePass, startPruner } from "./pruner";
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
