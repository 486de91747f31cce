import type { PrismaClient } from "@xnn/db";
import { cancelKey } from "@xnn/shared";
import type { CancelResult } from "@xnn/shared/records";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";

/** Long enough for any epoch to end; short enough that a stale flag cannot cancel a later retry. */
export const CANCEL_KEY_TTL_SEC = 24 * 3600;

const REMOVABLE_STATES = new Set(["waiting", "waiting-children", "delayed", "prioritized", "wait"]);

export type { CancelResult };

export class SweepNotFoundError extends Error {
  override name = "SweepNotFoundError";
}

export async function cancelSweep(
  deps: { prisma: PrismaClient; queue: Queue; redis: Redis },
  sweepId: string,
): Promise<CancelResult> {
  const sweep = await deps.prisma.sweep.findUnique({ where: { id: sweepId }, select: { id: true } });
  if (!sweep) throw new SweepNotFoundError(`sweep ${sweepId} not found`);
  const runs = await deps.prisma.run.findMany({
    where: { sweepId, status: { in: ["queued", "running"] } },
    select: { id: true, jobId: true, status: true, stage: true },
    // FT parents first: removing a parent also removes its waiting FE child in one step.
    orderBy: { stage: "desc" },
  });

  let removedJobs = 0;
  const toCancel: string[] = [];
  const toSignal: string[] = [];
  for (const run of runs) {
    const job = await deps.queue.getJob(run.jobId);
    const state = job ? await job.getState() : "missing";
    if (run.status === "running" || state === "active") {
      toSignal.push(run.id);
      continue;
    }
    if (job && REMOVABLE_STATES.has(state)) {
      removedJobs += await removeJob(deps.queue, run.jobId);
    }
    // Gone from the queue (removed now, with its parent, or never enqueued): nothing will run it.
    toCancel.push(run.id);
  }

  if (toSignal.length > 0) {
    const pipeline = deps.redis.multi();
    for (const id of toSignal) pipeline.set(cancelKey(id), "1", "EX", CANCEL_KEY_TTL_SEC);
    await pipeline.exec();
  }
  const now = new Date();
  const [cancelled] = await deps.prisma.$transaction([
    deps.prisma.run.updateMany({
      where: { id: { in: toCancel }, status: "queued" },
      data: { status: "cancelled", finishedAt: now, error: "cancelled by user" },
    }),
    deps.prisma.sweep.update({ where: { id: sweepId }, data: { status: "cancelled" } }),
  ]);
  return { sweepId, removedJobs, cancelledRuns: cancelled.count, signalledRuns: toSignal };
}

/** Removes a job and its unprocessed children; if a child is locked by a worker, the parent alone. */
async function removeJob(queue: Queue, jobId: string): Promise<number> {
  try {
    return (await queue.remove(jobId, { removeChildren: true })) > 0 ? 1 : 0;
  } catch {
    return (await queue.remove(jobId, { removeChildren: false }).catch(() => 0)) > 0 ? 1 : 0;
  }
}
