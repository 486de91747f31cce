export { buildFlows, fineTuneFlow, type RunJobSource, runJob } from "./buildFlows";
export { judgeRun, type RunRule, runRule } from "./judgeRun";
export { type Proposal, type ProposerDeps, proposePass } from "./proposeRuns";
export {
  ashaRungs,
  type Curve,
  type CurvePoint,
  decide,
  judgedEpochs,
  type PruneDecision,
} from "./pruneRule";
export { type PruneAction, type PrunerDeps, prunePass } from "./pruner";
export {
  type ReconcileAction,
  type ReconcileDeps,
  type ReconcileOptions,
  type ReconcileReport,
  type Reconciler,
  reconcileRuns,
  startReconciler,
} from "./reconcileRuns";
export { type SearchScheduler, startSearchScheduler } from "./searchScheduler";
export {
  EnqueueError,
  type SubmitDeps,
  type SubmitOptions,
  type SubmitResult,
  submitSweep,
} from "./submitSweep";
