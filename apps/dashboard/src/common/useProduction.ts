import { useGetOne } from "react-admin";
import type { ProductionModel, RunRow } from "../types";
import { useApiQuery } from "../useApiQuery";
import type { RunSummary } from "./RunComparisonTable";

/** The task's production model (GET /api/production?task=, 404 when none) with its run's details. */
export function useProduction(task: string | undefined, version = 0): { current: RunSummary | null } {
  const { data: production } = useApiQuery<ProductionModel>(
    task ? `/production?task=${encodeURIComponent(task)}` : null,
    version,
  );
  const runId = task ? production?.runId : undefined;
  const { data: run } = useGetOne<RunRow>("runs", { id: runId ?? "" }, { enabled: !!runId });
  if (!task || !production) return { current: null };
  return {
    current: {
      key: run?.key ?? production.runKey ?? production.runId,
      sweepId: run?.sweepId,
      model: run?.model,
      classWeighting: run?.classWeighting,
      stage: run?.stage,
      testF1: run?.testF1 ?? production.testF1 ?? null,
      bestValF1: run?.bestValF1 ?? null,
      version: production.version,
    },
  };
}
