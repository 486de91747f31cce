import type {
  RunStatus as DbRunStatus,
  Stage as DbStage,
  SweepStatus as DbSweepStatus,
  Prisma,
  PrismaClient,
} from "@xnn/db";
import {
  type ExplanationSummary,
  PRODUCTION_ALIAS,
  type RunRow,
  type RunStatusName,
  type StageKind,
  type SweepStatusName,
  toTimestamp,
} from "@xnn/shared/records";

export type { ExplanationSummary, RunRow };

// The records spell the database's enums out (the dashboard cannot import Prisma): a value added to
// one side only stops this from compiling.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const enumsAgree: [
  Same<DbRunStatus, RunStatusName>,
  Same<DbSweepStatus, SweepStatusName>,
  Same<DbStage, StageKind>,
] = [true, true, true];
void enumsAgree;

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

/** The Evaluation columns the explanation summary is read from (named as in the summary but for duration). */
export interface ExplanationColumns {
  probeImages: number | null;
  completenessGap: number | null;
  stepsUsed: number | null;
  deletionAuc: number | null;
  insertionAuc: number | null;
  maskShare: number | null;
  explainMs: number | null;
}

/** Null when the run has no test evaluation or its quality was not computed. */
export function toExplanation(e: ExplanationColumns | null | undefined): ExplanationSummary | null {
  if (!e || e.probeImages === null) return null;
  return {
    probeImages: e.probeImages,
    completenessGap: e.completenessGap,
    stepsUsed: e.stepsUsed,
    deletionAuc: e.deletionAuc,
    insertionAuc: e.insertionAuc,
    maskShare: e.maskShare,
    durationMs: e.explainMs,
  };
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
  const { config, queuedAt, startedAt, finishedAt, ...rest } = run;
  return {
    ...rest,
    queuedAt: toTimestamp(queuedAt),
    startedAt: toTimestamp(startedAt),
    finishedAt: toTimestamp(finishedAt),
    epochs: epochsOf(config),
    // Written by the scheduler from validated records (the drawn params, the prune signal).
    params: run.params as RunRow["params"],
    pruned: run.pruned as RunRow["pruned"],
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
