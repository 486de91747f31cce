import { Prisma, type PrismaClient } from "@xnn/db";
import { type LoadedSweep, runIdFor, runJobId, sweepIdFor } from "@xnn/shared";
import type { FlowProducer } from "bullmq";
import { buildFlows } from "./buildFlows";

export interface SubmitDeps {
  prisma: PrismaClient;
  flows: FlowProducer;
}

export interface SubmitOptions {
  /** Start a new sweep even when the same one was submitted before. */
  fresh?: boolean;
  createdBy?: string;
}

export interface SubmitResult {
  sweepId: string;
  /** False when this exact sweep already existed: nothing was written or enqueued. */
  created: boolean;
  status: string;
  runs: number;
  jobs: number;
}

const ENQUEUE_FAILED = "enqueue failed";

export class EnqueueError extends Error {
  override name = "EnqueueError";
}

/**
 * Persists a validated sweep and enqueues its runs. The one service behind `pnpm sweep` and
 * `POST /api/sweeps`. Idempotent: the sweep id derives from its content, so a second identical
 * submission finds the first. If Redis refuses the jobs, the sweep is marked failed with the reason
 * and its runs cancelled: nothing is left half-made.
 */
export async function submitSweep(
  deps: SubmitDeps,
  loaded: LoadedSweep,
  options: SubmitOptions = {},
): Promise<SubmitResult> {
  const sweepId = sweepIdFor(loaded.name, loaded.fingerprint, options.fresh);
  const existing = await deps.prisma.sweep.findUnique({
    where: { id: sweepId },
    select: { status: true, error: true },
  });
  const enqueueFailedBefore = existing?.status === "failed" && existing.error?.startsWith(ENQUEUE_FAILED);
  if (existing && !enqueueFailedBefore) {
    return { sweepId, created: false, status: existing.status, runs: loaded.runs.length, jobs: 0 };
  }

  if (!existing) {
    try {
      const runRows = loaded.runs.map((run) => ({
        id: runIdFor(sweepId, run.key),
        sweepId,
        key: run.key,
        config: run.config,
        configHash: run.configHash,
        model: run.model,
        classWeighting: run.classWeighting,
        stage: run.stage,
        feRunId: run.dependsOn ? runIdFor(sweepId, run.dependsOn) : null,
        jobId: runJobId(sweepId, run.configHash),
        trial: run.trial,
        params: run.params,
      }));
      await deps.prisma.$transaction(
        async (tx) => {
          await tx.sweep.create({
            data: {
              id: sweepId,
              name: loaded.name,
              task: loaded.task,
              fingerprint: loaded.fingerprint,
              sourcePath: loaded.sourcePath ?? null,
              sourceYaml: loaded.sourceText,
              createdBy: options.createdBy ?? "cli",
              status: "pending",
              search: loaded.search as unknown as Prisma.InputJsonValue,
            },
          });
          // One statement with the rows as a JSON parameter: Prisma's createMany needs ~5 ms a row here,
          // which made a 10,000-run sweep take most of a minute to persist.
          await tx.$executeRaw`
            INSERT INTO "Run" ("id", "sweepId", "key", "config", "configHash", "model", "classWeighting", "stage", "feRunId", "jobId", "status", "trial", "params")
            SELECT r."id", r."sweepId", r."key", r."config", r."configHash", r."model", r."classWeighting",
                   r."stage"::"Stage", r."feRunId", r."jobId", 'queued'::"RunStatus", r."trial", r."params"
            FROM jsonb_to_recordset(${JSON.stringify(runRows)}::jsonb) AS r(
              "id" text, "sweepId" text, "key" text, "config" jsonb, "configHash" text, "model" text,
              "classWeighting" text, "stage" text, "feRunId" text, "jobId" text, "trial" int, "params" jsonb)
            ORDER BY (r."feRunId" IS NOT NULL)`;
        },
        // Large sweeps (10,000 runs) take seconds to insert; the default 5 s would abort them.
        { timeout: 120_000, maxWait: 10_000 },
      );
    } catch (err) {
      // A concurrent identical submission won the race: it owns the sweep.
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
        return { sweepId, created: false, status: "pending", runs: loaded.runs.length, jobs: 0 };
      }
      throw err;
    }
  } else {
    // A previous submission of this sweep could not enqueue; jobs have stable ids, so retrying is safe.
    await deps.prisma.$transaction([
      deps.prisma.sweep.update({ where: { id: sweepId }, data: { status: "pending", error: null } }),
      deps.prisma.run.updateMany({ where: { sweepId }, data: { status: "queued", error: null } }),
    ]);
  }

  const flows = buildFlows(sweepId, loaded);
  try {
    // One MULTI: either every flow is in Redis or none is.
    await deps.flows.addBulk(flows);
  } catch (err) {
    const reason = `${ENQUEUE_FAILED}: ${(err as Error).message}`;
    await deps.prisma.$transaction([
      deps.prisma.sweep.update({ where: { id: sweepId }, data: { status: "failed", error: reason } }),
      deps.prisma.run.updateMany({ where: { sweepId }, data: { status: "cancelled", error: reason } }),
    ]);
    throw new EnqueueError(`sweep ${sweepId} was not started: ${reason}`);
  }
  await deps.prisma.sweep.update({ where: { id: sweepId }, data: { status: "queued" } });
  const jobs = flows.reduce((n, f) => n + 1 + (f.children?.length ?? 0), 0);
  return { sweepId, created: true, status: "queued", runs: loaded.runs.length, jobs };
}
