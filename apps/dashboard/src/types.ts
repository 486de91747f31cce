/** Shapes the scheduler API returns (apps/scheduler/src/api). Kept loose where the API may add fields. */

export type Role = "viewer" | "operator" | "admin";
export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "pruned";

/** Why a sweep's early-termination rule stopped a run (packages/shared PruneSignal). */
export interface PruneInfo {
  reason: string;
  numbers: {
    rule: "asha" | "median";
    metric: string;
    epoch: number;
    value: number;
    threshold: number;
    of: number;
    rank?: number;
    keep?: number;
  } | null;
  /** An FT run pruned because the FE run it would start from was. */
  feRunId?: string;
}

export type SearchSpec = unknown[] | Record<string, unknown>;

export interface SweepSearch {
  method: "grid" | "random" | "bayes";
  seed: number;
  runs: number | null;
  space: Record<string, SearchSpec>;
  earlyTerminate: {
    method: "asha" | "median";
    metric: string;
    minEpochs: number;
    reductionFactor: number;
    minRuns: number;
  } | null;
}
export type SweepStatus = "pending" | "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface Me {
  role: Role;
  name: string;
}

export interface SweepRow {
  id: string;
  name: string;
  task: string;
  status: SweepStatus;
  createdAt: string;
  createdBy: string;
  runsTotal: number;
  runsDone: number;
  runsFailed: number;
  runsRunning: number;
  runsPruned: number;
  bestTestF1: number | null;
}

export interface SweepDetail extends SweepRow {
  sourceYaml: string;
  search: SweepSearch | null;
  error: string | null;
  production: { runId: string; version: number } | null;
}

/**
 * Explanation quality of a run's best checkpoint on its test probe set (eval.probePerClass images
 * per class): mean IG completeness gap (lower is better) and the IG steps it took, deletion AUC
 * (lower is better), insertion AUC (higher is better), share of positive attribution inside the
 * lesion masks (null without masks), and the step's wall time.
 */
export interface ExplanationSummary {
  probes: number;
  gap: number | null;
  steps: number | null;
  deletionAuc: number | null;
  insertionAuc: number | null;
  maskShare: number | null;
  durationMs: number | null;
}

export interface ProbeImageScore {
  path: string;
  label: number;
  completenessGap: number | null;
  stepsUsed: number;
  deletionAuc: number | null;
  insertionAuc: number | null;
  maskShare: number | null;
}

export interface RunRow {
  id: string;
  sweepId: string;
  key: string;
  model: string;
  classWeighting: string;
  stage: "fe" | "ft";
  status: RunStatus;
  attempt: number;
  epochsDone: number;
  epochs: number | null;
  bestEpoch: number | null;
  bestValF1: number | null;
  bestValLoss: number | null;
  testF1: number | null;
  workerId: string | null;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  /** random/bayes sweeps: the point of the space and its drawn or proposed values. */
  trial: number | null;
  params: Record<string, unknown> | null;
  pruned: PruneInfo | null;
  isProduction: boolean;
  /** null until (or unless) the worker recorded it. */
  explanation?: ExplanationSummary | null;
}

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
  ap: number;
  tp: number;
  fp: number;
  fn: number;
}

export interface Evaluation {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  perClass: Record<string, ClassMetrics>;
  microAp: number;
  loss: number | null;
}

export interface Confusion {
  classNames: string[];
  /** counts[true][predicted] */
  counts: number[][];
}

export interface RunDetail extends RunRow {
  config: unknown;
  feRunId: string | null;
  evaluations: { val?: Evaluation; test?: Evaluation };
  confusion: Record<string, Confusion>;
  checkpoint: {
    uri: string;
    sha256: string;
    sizeBytes: number | string;
    epoch: number;
    valF1: number | null;
  } | null;
  worker: { id: string; host: string; backend: string } | null;
  /** perImage is absent while the page shows the list's row (react-admin's cache) before the detail arrives. */
  explanation?: (ExplanationSummary & { perImage?: ProbeImageScore[] }) | null;
}

export type MetricName = "loss" | "accuracy" | "f1" | "precision" | "recall" | "lr";

export interface EpochMetric {
  epoch: number;
  split: "train" | "val";
  name: MetricName;
  value: number;
}

export interface PrPoint {
  recall: number;
  precision: number;
  threshold?: number | null;
}

export interface PrCurve {
  /** null when the run's evaluation has no AP for this curve. */
  ap: number | null;
  points: PrPoint[];
}

export interface CurvesResponse {
  split: string;
  curves: Record<string, PrCurve>;
}

export interface CompareRun {
  id: string;
  key: string;
  model: string;
  classWeighting: string;
  stage: string;
  status: RunStatus;
  pruned?: PruneInfo | null;
  testF1: number | null;
  bestValF1: number | null;
  metrics: { test?: Evaluation | null; [split: string]: Evaluation | null | undefined };
  /** epochs[split][metric] = value per epoch */
  epochs: Record<string, Record<string, (number | null)[]>>;
  curves: Record<string, PrCurve>;
  confusion: Confusion | Record<string, Confusion> | null;
  isProduction?: boolean;
  explanation?: ExplanationSummary | null;
}

export interface CompareResponse {
  runs: CompareRun[];
  configDiff: Array<{ key: string; values: Record<string, unknown> }>;
}

export interface ValidationIssue {
  line: number;
  col: number;
  path: string;
  message: string;
}

export interface ExpandedRun {
  key: string;
  model: string;
  classWeighting: string;
  stage: string;
  dependsOn: string | null;
  configHash: string;
}

export interface SubmitResult {
  id: string;
  created: boolean;
  runs: number;
  jobs: number;
  status: string;
}

/** GET /api/audit rows (AuditEvent). */
export interface AuditEventRow {
  id: string;
  createdAt: string;
  actor: string | null;
  actorRole: string | null;
  tokenId: string | null;
  action: string;
  targetId: string | null;
  outcome: "ok" | "denied" | "rejected" | "error";
  status: number;
  message: string | null;
  ip: string | null;
}
