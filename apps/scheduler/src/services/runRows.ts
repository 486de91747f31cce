import type { Prisma, PrismaClient } from "@xnn/db";

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
} satisfies Prisma.RunSelect;

type SelectedRun = Prisma.RunGetPayload<{ select: typeof runRowSelect }>;

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
  isProduction: boolean;
}

export function epochsOf(config: unknown): number | null {
  const epochs = (config as { train?: { epochs?: unknown } } | null)?.train?.epochs;
  return typeof epochs === "number" ? epochs : null;
}

export function toRunRow(run: SelectedRun, productionRunIds: Set<string>): RunRow {
  const { config, ...rest } = run;
  return { ...rest, epochs: epochsOf(config), isProduction: productionRunIds.has(run.id) };
}

/** Which of these runs back a task's current production model. */
export async function productionRunIds(prisma: PrismaClient, runIds: string[]): Promise<Set<string>> {
  if (runIds.length === 0) return new Set();
  const rows = await prisma.modelVersion.findMany({
    where: { alias: "production", runId: { in: runIds } },
    select: { runId: true },
  });
  return new Set(rows.map((r) => r.runId));
}
