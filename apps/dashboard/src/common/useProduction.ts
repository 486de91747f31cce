import { useApiQuery } from "../useApiQuery";
import type { RunSummary } from "./RunComparisonTable";

/**
 * The task's production model as a flat summary. GET /api/production?task= may answer with the model
 * version and its run nested or flattened; both are accepted.
 */
export function useProduction(
  task: string | undefined,
  version = 0,
): { current: RunSummary | null; loading: boolean } {
  const { data, loading } = useApiQuery<unknown>(
    task ? `/production?task=${encodeURIComponent(task)}` : null,
    version,
  );
  return { current: toSummary(data), loading };
}

function toSummary(data: unknown): RunSummary | null {
  if (!data || typeof data !== "object") return null;
  const d = data as Record<string, unknown>;
  const inner = (d.production ?? d.modelVersion ?? d) as Record<string, unknown> | null;
  if (!inner || typeof inner !== "object") return null;
  const run = (inner.run ?? inner) as Record<string, unknown>;
  if (!run.key && !inner.runId && !run.id) return null;
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  const metrics = (inner.metrics ?? {}) as Record<string, unknown>;
  return {
    key: str(run.key) ?? str(inner.runId) ?? str(run.id),
    sweepId: str(run.sweepId),
    model: str(run.model),
    classWeighting: str(run.classWeighting),
    stage: str(run.stage),
    testF1: num(run.testF1) ?? num(metrics.testF1),
    bestValF1: num(run.bestValF1) ?? num(metrics.bestValF1),
    version: num(inner.version),
  };
}
