import { Prisma, type PrismaClient } from "@xnn/db";

import { PRODUCTION_ALIAS, type Promotion } from "@xnn/shared/records";

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

/** What a promotion did; the API answers it with the version id as `id` (the Promotion record). */
export type PromotionResult = Omit<Promotion, "id">;

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
): Promise<PromotionResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await prisma.$transaction((tx) => promoteInTransaction(tx, runId, actor), {
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
): Promise<PromotionResult> {
  const sweep = await prisma.sweep.findUnique({ where: { id: sweepId }, select: { id: true } });
  if (!sweep) throw new PromotionError(`sweep ${sweepId} not found`, "not-found");
  const best = await prisma.run.findFirst({
    where: { sweepId, status: "succeeded", testF1: { not: null }, checkpoints: { some: { kind: "best" } } },
    orderBy: [{ testF1: "desc" }, { bestValLoss: { sort: "asc", nulls: "last" } }, { key: "asc" }],
    select: { id: true },
  });
  if (!best) {
    throw new PromotionError(
      `sweep ${sweepId} has no succeeded run with a test F1 and a best checkpoint to promote`,
      "conflict",
    );
  }
  return promoteRun(prisma, best.id, actor);
}

async function promoteInTransaction(
  tx: Prisma.TransactionClient,
  runId: string,
  actor: string,
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
    };
  }

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
  };
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
