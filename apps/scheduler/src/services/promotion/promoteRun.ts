import { Prisma, type PrismaClient } from "@xnn/db";

import { PRODUCTION_ALIAS } from "@xnn/shared/records";
import {
  compareWithProduction,
  DEFAULT_PROMOTION_LEVEL,
  describeComparison,
  type PromotionComparison,
} from "./compareWithProduction";

export { PRODUCTION_ALIAS };

/** A promotion the caller asked for that cannot happen (run not finished, no checkpoint...): HTTP 409. */
export class PromotionError extends Error {
  override name = "PromotionError";
  constructor(
    message: string,
    readonly code: "not-found" | "conflict",
  ) {
    super(message);
  }
}

/**
 * A candidate the guard refused: not better than production at the level, and no override given.
 * HTTP 409 with the comparison.
 */
export class PromotionNotBetterError extends PromotionError {
  override name = "PromotionNotBetterError";
  constructor(readonly comparison: PromotionComparison) {
    super(
      `run ${comparison.candidateRunId} is not better than production (run ${comparison.productionRunId}) ` +
        `at level ${comparison.level}: ${describeComparison(comparison)}; promote with override and a reason to do it anyway`,
      "conflict",
    );
  }
}

/** How a promotion is judged against the production model it replaces. */
export interface PromotionGuard {
  /** Significance level of the comparison; default 0.05. */
  level?: number;
  /** Promote even when the candidate is not shown better; the reason goes into the audit trail. */
  override?: { reason: string } | null;
}

export interface PromotionResult {
  task: string;
  runId: string;
  versionId: string;
  version: number;
  /** False when the run was already the production version: nothing changed, nothing audited. */
  changed: boolean;
  fromVersionId: string | null;
  promotionId: string | null;
  /** The comparison the guard judged (null when nothing changed). */
  comparison: PromotionComparison | null;
  /** True when the guard refused and an override promoted anyway. */
  overridden: boolean;
}

const MAX_ATTEMPTS = 5;

/**
 * Makes a run's best checkpoint the task's production model. Everything happens in one transaction
 * under a per-task advisory lock, so concurrent promotions queue up instead of racing; the unique
 * (task, alias) index is the last line of defence, and a transaction that still trips over it or over
 * a serialization failure is retried from scratch.
 */
export async function promoteRun(
  prisma: PrismaClient,
  runId: string,
  actor: string,
  guard: PromotionGuard = {},
): Promise<PromotionResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await prisma.$transaction((tx) => promoteInTransaction(tx, runId, actor, guard), {
        // 20 concurrent promotions share a small pool and wait on one lock: allow for the queue.
        maxWait: 15_000,
        timeout: 15_000,
      });
    } catch (err) {
      if (attempt < MAX_ATTEMPTS && isRetryable(err)) continue;
      throw err;
    }
  }
}

/** Promotes the sweep's succeeded run with the best test weighted F1 (ties: lower best validation loss). */
export async function promoteBestRun(
  prisma: PrismaClient,
  sweepId: string,
  actor: string,
  guard: PromotionGuard = {},
): Promise<PromotionResult> {
  const sweep = await prisma.sweep.findUnique({ where: { id: sweepId }, select: { id: true } });
  if (!sweep) throw new PromotionError(`sweep ${sweepId} not found`, "not-found");
  const best = await bestRunOfSweep(prisma, sweepId);
  if (!best) {
    throw new PromotionError(
      `sweep ${sweepId} has no succeeded run with a test F1 and a best checkpoint to promote`,
      "conflict",
    );
  }
  return promoteRun(prisma, best, actor, guard);
}

/** The id of the sweep's succeeded run with the best test weighted F1 (ties: lower best validation loss). */
export async function bestRunOfSweep(prisma: PrismaClient, sweepId: string): Promise<string | null> {
  const best = await prisma.run.findFirst({
    where: { sweepId, status: "succeeded", testF1: { not: null }, checkpoints: { some: { kind: "best" } } },
    orderBy: [{ testF1: "desc" }, { bestValLoss: { sort: "asc", nulls: "last" } }, { key: "asc" }],
    select: { id: true },
  });
  return best?.id ?? null;
}

async function promoteInTransaction(
  tx: Prisma.TransactionClient,
  runId: string,
  actor: string,
  guard: PromotionGuard,
): Promise<PromotionResult> {
  const run = await tx.run.findUnique({
    where: { id: runId },
    select: {
      id: true,
      status: true,
      bestEpoch: true,
      testF1: true,
      bestValF1: true,
      bestValLoss: true,
      sweep: { select: { task: true } },
      checkpoints: { where: { kind: "best" }, orderBy: { epoch: "desc" }, select: { id: true, epoch: true } },
      evaluations: { where: { split: "test" }, select: { accuracy: true, f1: true, microAp: true } },
    },
  });
  if (!run) throw new PromotionError(`run ${runId} not found`, "not-found");
  if (run.status !== "succeeded") {
    throw new PromotionError(
      `run ${runId} is ${run.status}; only succeeded runs can be promoted`,
      "conflict",
    );
  }
  // Prefer the checkpoint of the run's recorded best epoch; otherwise its latest "best" checkpoint.
  const checkpoint = run.checkpoints.find((c) => c.epoch === run.bestEpoch) ?? run.checkpoints[0];
  if (!checkpoint) {
    throw new PromotionError(`run ${runId} has no best checkpoint; there is nothing to deploy`, "conflict");
  }
  const task = run.sweep.task;
  // Serialises promotions of one task; released automatically at commit or rollback.
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`xnn:promote:${task}`}, 0))`;

  const current = await tx.modelVersion.findUnique({
    where: { task_alias: { task, alias: PRODUCTION_ALIAS } },
    select: { id: true, runId: true, version: true },
  });
  if (current?.runId === runId) {
    return {
      task,
      runId,
      versionId: current.id,
      version: current.version,
      changed: false,
      fromVersionId: current.id,
      promotionId: null,
      comparison: null,
      overridden: false,
    };
  }

  // Judged under the lock, against the production model this promotion actually replaces.
  const comparison = await compareWithProduction(tx, task, runId, guard.level ?? DEFAULT_PROMOTION_LEVEL);
  const overridden = comparison.requiresOverride;
  if (comparison.requiresOverride && !guard.override) throw new PromotionNotBetterError(comparison);

  let target = await tx.modelVersion.findUnique({
    where: { task_runId: { task, runId } },
    select: { id: true, version: true },
  });
  if (!target) {
    const last = await tx.modelVersion.aggregate({ where: { task }, _max: { version: true } });
    target = await tx.modelVersion.create({
      data: { task, version: (last._max.version ?? 0) + 1, runId, checkpointId: checkpoint.id },
      select: { id: true, version: true },
    });
  }
  // Cleared before it is set: the unique (task, alias) index never sees two production rows.
  if (current) await tx.modelVersion.update({ where: { id: current.id }, data: { alias: null } });
  await tx.modelVersion.update({ where: { id: target.id }, data: { alias: PRODUCTION_ALIAS } });
  const test = run.evaluations[0];
  const promotion = await tx.promotion.create({
    data: {
      task,
      toVersionId: target.id,
      fromVersionId: current?.id ?? null,
      actor,
      metrics: {
        runId,
        testF1: run.testF1,
        bestValF1: run.bestValF1,
        bestValLoss: run.bestValLoss,
        testAccuracy: test?.accuracy ?? null,
        testMicroAp: test?.microAp ?? null,
        checkpointEpoch: checkpoint.epoch,
        comparison: comparison.status === "no-production" ? null : toJson(comparison),
        override: overridden ? { reason: guard.override?.reason ?? "" } : null,
      },
    },
    select: { id: true },
  });
  return {
    task,
    runId,
    versionId: target.id,
    version: target.version,
    changed: true,
    fromVersionId: current?.id ?? null,
    promotionId: promotion.id,
    comparison,
    overridden,
  };
}

function toJson(value: object): Prisma.InputJsonValue {
  return JSON.parse(JSON.stringify(value)) as Prisma.InputJsonValue;
}

function isRetryable(err: unknown): boolean {
  if (err instanceof PromotionError) return false;
  if (err instanceof Prisma.PrismaClientKnownRequestError) {
    // P2002: unique violation; P2034: write conflict or deadlock.
    return err.code === "P2002" || err.code === "P2034";
  }
  const text = String((err as Error)?.message ?? err);
  return /40001|40P01|could not serialize|deadlock detected/i.test(text);
}
