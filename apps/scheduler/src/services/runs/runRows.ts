import type { Prisma, PrismaClient } from "@xnn/db";
import { PRODUCTION_ALIAS } from "@xnn/shared";

/** The columns a run row needs; `config` only for its epoch budget. */
export const runRowSelect = {
  id: true,
  sweepId: true,
  key: true,
  model: true,
  classWeighting: true,
  stage: true,
  status: true,
  attempt: true,
  epochsDone: true,
  bestEpoch: true,
  bestValF1: true,
  bestValLoss: true,
  testF1: true,
  workerId: true,
  queuedAt: true,
  startedAt: true,
  finishedAt: true,
  error: true,
  config: true,
  trial: true,
  params: true,
  pruned: true,
} satisfies Prisma.RunSelect;

type SelectedRun = Prisma.RunGetPayload<{ select: typeof runRowSelect }>;

/**
 * Explanation quality of the run's best checkpoint on its probe set (eval.probePerClass test
 * images per class), as the worker stored it on the test evaluation. `gap`: mean Integrated
 * Gradients completeness gap (lower is better); `steps`: mean IG interval count used;
 * `deletionAuc`: lower is better; `insertionAuc`: higher is better; `maskShare`: share of positive
 * attribution inside the lesion masks (null without masks); `durationMs`: cost of the step.
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

/** The Evaluation columns the summary is read from. */
export interface ExplanationColumns {
  explainProbes: number | null;
  explainGap: number | null;
  explainSteps: number | null;
  deletionAuc: number | null;
  insertionAuc: number | null;
  maskShare: number | null;
  explainMs: number | null;
}

/** Null when the run has no test evaluation or its quality was not computed. */
export function toExplanation(e: ExplanationColumns | null | undefined): ExplanationSummary | null {
  if (!e || e.explainProbes === null) return null;
  return {
    probes: e.explainProbes,
    gap: e.explainGap,
    steps: e.explainSteps,
    deletionAuc: e.deletionAuc,
    insertionAuc: e.insertionAuc,
    maskShare: e.maskShare,
    durationMs: e.explainMs,
  };
}

export interface RunRow {
  id: string;
  sweepId: string;
  key: string;
  model: string;
  classWeighting: string;
  stage: string;
  status: string;
  attempt: number;
  epochsDone: number;
  epochs: number | null;
  bestEpoch: number | null;
  bestValF1: number | null;
  bestValLoss: number | null;
  testF1: number | null;
  workerId: string | null;
  queuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  error: string | null;
  /** random/bayes sweeps: the point of the space and the values drawn or proposed for it. */
  trial: number | null;
  params: unknown;
  /** Status `pruned`: why the sweep's early-termination rule stopped it ({ reason, numbers }). */
  pruned: unknown;
  isProduction: boolean;
  /** Explanation quality on the test probe set; null until (or unless) the worker recorded it. */
  explanation: ExplanationSummary | null;
}

export function epochsOf(config: unknown): number | null {
  const epochs = (config as { train?: { epochs?: unknown } } | null)?.train?.epochs;
  return typeof epochs === "number" ? epochs : null;
}

export function toRunRow(
  run: SelectedRun,
  productionRunIds: Set<string>,
  testEvaluation?: ExplanationColumns | null,
): RunRow {
  const { config, ...rest } = run;
  return {
    ...rest,
    epochs: epochsOf(config),
    isProduction: productionRunIds.has(run.id),
    explanation: toExplanation(testEvaluation),
  };
}

/** Which of these runs back a task's current production model. */
export async function productionRunIds(prisma: PrismaClient, runIds: string[]): Promise<Set<string>> {
  if (runIds.length === 0) return new Set();
  const rows = await prisma.modelVersion.findMany({
    where: { alias: PRODUCTION_ALIAS, runId: { in: runIds } },
    select: { runId: true },
  });
  return new Set(rows.map((r) => r.runId));
}
