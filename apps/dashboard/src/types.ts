// What the scheduler API answers: the records of packages/shared (one definition for the API, its
// tests and this dashboard). Types only here; nothing of zod reaches the bundle through this file.
import type { ExplanationSummary, RunDetail as RunDetailRecord, RunExplanation } from "@xnn/shared/records";

export type {
  AuditEventRow,
  ClassMetrics,
  ComparedRun as CompareRun,
  Comparison as CompareResponse,
  Confusion,
  EpochMetric,
  EpochMetricName as MetricName,
  ExpandedRun,
  ExplanationSummary,
  Me,
  ModelVersionRow,
  PrCurve,
  ProductionModel,
  PruneInfo,
  Role,
  RunCurves as CurvesResponse,
  RunRow,
  RunStatusName as RunStatus,
  StoredProbeScore as ProbeImageScore,
  SubmitResult,
  SweepDetail,
  SweepIssue as ValidationIssue,
  SweepRow,
  SweepSearchSummary as SweepSearch,
  SweepStatusName as SweepStatus,
  SweepValidation,
  WorkerRow,
} from "@xnn/shared/records";

/**
 * A run as the show page sees it: react-admin first renders the list's row from its cache (no
 * `perImage`, no evaluations yet), then the detail replaces it.
 */
export type RunDetail = Omit<RunDetailRecord, "explanation"> & {
  explanation: (ExplanationSummary & Partial<Pick<RunExplanation, "perImage">>) | null;
};
