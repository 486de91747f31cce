import { endRun, endRunPruned, refreshSweepStatus, type Sql } from "@xnn/db";
import type { Logger } from "@xnn/shared";
import type { FlowJob, FlowProducer, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { fineTuneFlow, runJob } from "./buildFlows";

/**
 * Makes Postgres and the queue agree again. Postgres says which runs are unfinished; BullMQ says
 * which jobs exist and in what state. Each disagreement has one repair:
 *
 * - the job failed by itself (stall limit, lock lost, failed by the queue) but the run is still
 *   queued/running: the run fails with the queue's reason;
 * - the run is `running` but its worker stopped heartbeating (dead, or cut off): the run goes back
 *   to `queued` and the death is counted against its crash budget; whoever takes the job resumes it;
 * - the job is gone (Redis restarted without its data, removed by hand): the run is enqueued again
 *   under the same job id (an FT run with its FE run as a flow when both are gone, alone once its FE
 *   run succeeded; it fails when its FE run failed, and is pruned when its FE run was);
 * - a job whose run has no row: removed (it would only fail at the worker).
 *
 * Every write is conditional on the state it repairs, so two reconcilers (or a reconciler and a
 * worker) racing each other cannot undo each other's work.
 */
export interface ReconcileDeps {
  sql: Sql;
  queue: Queue;
  flows: FlowProducer;
  logger?: Logger;
}

export interface ReconcileOptions {
  /** Report what would be done; change nothing. */
  dryRun?: boolean;
  /** A worker whose last heartbeat is older than this is taken for dead (lock duration + a margin). */
  staleAfterMs: number;
}

export type ReconcileAction =
  | { action: "fail"; runId: string; jobId: string; reason: string }
  | { action: "prune"; runId: string; jobId: string; reason: string }
  | { action: "requeue-lost-worker"; runId: string; jobId: string; reason: string }
  | { action: "reenqueue"; runId: string; jobId: string; reason: string; withFeRunId?: string }
  | { action: "remove-orphan-job"; jobId: string; reason: string };

export interface ReconcileReport {
  runsChecked: number;
  /** Workers marked `lost`: no heartbeat for `staleAfterMs` (a heartbeat makes them `active` again). */
  workersLost: string[];
  jobsChecked: number;
  actions: ReconcileAction[];
  /** Actions that could not be applied (e.g. Redis went away mid-pass); the next pass retries them. */
  errors: string[];
}

interface OpenRun {
  id: string;
  sweepId: string;
  key: string;
  config: unknown;
  configHash: string;
  feRunId: string | null;
  jobId: string;
  status: "queued" | "running";
  workerId: string | null;
  workerAlive: boolean;
  /** The worker says it is training this run now (its currentRunId). */
  workerOnIt: boolean;
  heartbeatAgeMs: number | null;
  feStatus: string | null;
  feError: string | null;
  feJobId: string | null;
}

const WAITING_STATES = new Set(["waiting", "wait", "delayed", "prioritized", "waiting-children", "paused"]);
const ORPHAN_SCAN_STATES = ["waiting", "delayed", "prioritized", "waiting-children"] as const;

export async function reconcileRuns(deps: ReconcileDeps, opts: ReconcileOptions): Promise<ReconcileReport> {
  const { sql, queue } = deps;
  const runs = await sql<OpenRun[]>`
    SELECT r.id, r."sweepId", r.key, r.config, r."configHash", r."feRunId", r."jobId", r.status, r."workerId",
      (w.status = 'active' AND w."lastHeartbeat" > now() - make_interval(secs => ${opts.staleAfterMs / 1000}))
        IS TRUE AS "workerAlive",
      (w."currentRunId" = r.id) IS TRUE AS "workerOnIt",
      (extract(epoch FROM now() - w."lastHeartbeat") * 1000)::float8 AS "heartbeatAgeMs",
      fe.status AS "feStatus", fe.error AS "feError", fe."jobId" AS "feJobId"
    FROM "Run" r
    LEFT JOIN "Worker" w ON w.id = r."workerId"
    LEFT JOIN "Run" fe ON fe.id = r."feRunId"
    WHERE r.status IN ('queued', 'running')
    ORDER BY r.stage DESC, r.id`;

  const states = new Map<string, string>();
  const jobIds = [...new Set(runs.flatMap((r) => (r.feJobId ? [r.jobId, r.feJobId] : [r.jobId])))];
  for (let i = 0; i < jobIds.length; i += 200) {
    const chunk = jobIds.slice(i, i + 200);
    const got = await Promise.all(chunk.map((id) => queue.getJobState(id)));
    for (const [k, id] of chunk.entries()) states.set(id, got[k]!);
  }
  const stateOf = (jobId: string) => states.get(jobId) ?? "unknown";

  const actions: ReconcileAction[] = [];
  const errors: string[] = [];
  const enqueuedFe = new Set<string>();
  const byId = new Map(runs.map((r) => [r.id, r]));

  for (const run of runs) {
    const state = stateOf(run.jobId);
    if (state === "failed") {
      const job = await queue.getJob(run.jobId);
      const reason = `the queue failed this run's job: ${job?.failedReason || "no reason recorded"}`;
      actions.push({ action: "fail", runId: run.id, jobId: run.jobId, reason });
      continue;
    }
    if (state === "completed") {
      // The worker saves results before it completes the job; a completed job with an open run
      // means the save never happened (or the row was read just before it committed: the
      // conditional write below then changes nothing).
      actions.push({
        action: "fail",
        runId: run.id,
        jobId: run.jobId,
        reason: "the queue completed this run's job but no results reached the database",
      });
      continue;
    }
    const workerLost = run.status === "running" && !run.workerAlive;
    if (workerLost && (state === "active" || WAITING_STATES.has(state) || state === "unknown")) {
      const age =
        run.heartbeatAgeMs === null
          ? "no heartbeat on record"
          : `last heartbeat ${Math.round(run.heartbeatAgeMs / 1000)} s ago`;
      actions.push({
        action: "requeue-lost-worker",
        runId: run.id,
        jobId: run.jobId,
        reason: `worker ${run.workerId ?? "(unknown)"} lost (${age}); the run resumes from its last epoch when a worker takes it`,
      });
    }
    if (state !== "unknown") continue;
    // The job is gone. A run still trained by a live worker finishes without it (results go to Postgres).
    if (run.status === "running" && run.workerAlive && run.workerOnIt) continue;
    if (enqueuedFe.has(run.id)) continue;
    if (!run.feRunId) {
      actions.push({
        action: "reenqueue",
        runId: run.id,
        jobId: run.jobId,
        reason: "its job is missing from the queue",
      });
      continue;
    }
    if (run.feStatus === "succeeded") {
      actions.push({
        action: "reenqueue",
        runId: run.id,
        jobId: run.jobId,
        reason: "its job is missing from the queue; its FE run succeeded, so it starts from that checkpoint",
      });
    } else if (run.feStatus === "pruned") {
      actions.push({
        action: "prune",
        runId: run.id,
        jobId: run.jobId,
        reason: `its FE run ${run.feRunId} was pruned`,
      });
    } else if (run.feStatus === "failed" || run.feStatus === "cancelled") {
      actions.push({
        action: "fail",
        runId: run.id,
        jobId: run.jobId,
        reason: `FE run ${run.feRunId} ${run.feStatus}: ${run.feError ?? "no reason recorded"}`,
      });
    } else {
      const fe = byId.get(run.feRunId);
      const feState = run.feJobId ? stateOf(run.feJobId) : "unknown";
      // The FE run is still in the queue or on a live worker: once it succeeds, the next pass
      // enqueues this run alone.
      if (feState !== "unknown" || (fe?.status === "running" && fe.workerAlive)) continue;
      enqueuedFe.add(run.feRunId);
      actions.push({
        action: "reenqueue",
        runId: run.id,
        jobId: run.jobId,
        withFeRunId: run.feRunId,
        reason:
          "its job and its FE run's job are missing from the queue; both are enqueued again as one flow",
      });
    }
  }

  const orphans = await orphanJobs(sql, queue);
  actions.push(...orphans);

  const workersLost = opts.dryRun
    ? (
        await sql<{ id: string }[]>`SELECT id FROM "Worker" WHERE status = 'active'
          AND "lastHeartbeat" < now() - make_interval(secs => ${opts.staleAfterMs / 1000})`
      ).map((w) => w.id)
    : (
        await sql<{ id: string }[]>`UPDATE "Worker" SET status = 'lost', "currentRunId" = NULL
          WHERE status = 'active' AND "lastHeartbeat" < now() - make_interval(secs => ${opts.staleAfterMs / 1000})
          RETURNING id`
      ).map((w) => w.id);

  if (!opts.dryRun) {
    const touchedSweeps = new Set<string>();
    for (const a of actions) {
      try {
        await apply(deps, a, byId, opts.staleAfterMs);
        if ("runId" in a) touchedSweeps.add(byId.get(a.runId)!.sweepId);
      } catch (err) {
        errors.push(`${a.action} ${"runId" in a ? a.runId : a.jobId}: ${(err as Error).message}`);
      }
    }
    for (const sweepId of touchedSweeps) await refreshSweepStatus(sql, sweepId);
  }
  for (const a of actions) deps.logger?.warn({ ...a, dryRun: !!opts.dryRun }, "reconcile");
  return { runsChecked: runs.length, workersLost, jobsChecked: jobIds.length, actions, errors };
}

async function apply(
  deps: ReconcileDeps,
  a: ReconcileAction,
  byId: Map<string, OpenRun>,
  staleAfterMs: number,
): Promise<void> {
  const { sql } = deps;
  switch (a.action) {
    case "fail":
      await endRun(sql, a.runId, "failed", a.reason);
      return;
    case "prune":
      await endRunPruned(sql, a.runId, { reason: a.reason, numbers: null }, null);
      return;
    case "requeue-lost-worker": {
      // Counted here, once: the next claim finds the run queued, not running, and counts nothing.
      const run = byId.get(a.runId)!;
      await sql`UPDATE "Run" SET status = 'queued', crashes = crashes + 1, error = ${a.reason}
        WHERE id = ${a.runId} AND status = 'running' AND "workerId" IS NOT DISTINCT FROM ${run.workerId}::text
          AND NOT EXISTS (SELECT 1 FROM "Worker" w WHERE w.id = "Run"."workerId" AND w.status = 'active'
            AND w."lastHeartbeat" > now() - make_interval(secs => ${staleAfterMs / 1000}))`;
      return;
    }
    case "reenqueue": {
      const run = byId.get(a.runId)!;
      const job = runJob({ ...run, runId: run.id });
      let flow: FlowJob = job;
      if (a.withFeRunId) {
        const fe = byId.get(a.withFeRunId);
        if (!fe) throw new Error(`FE run ${a.withFeRunId} is not open any more`);
        flow = fineTuneFlow(job, runJob({ ...fe, runId: fe.id }));
      }
      await deps.flows.add(flow);
      return;
    }
    case "remove-orphan-job":
      await deps.queue.remove(a.jobId, { removeChildren: false });
      return;
  }
}

/** Jobs waiting in the queue whose run has no row (its sweep was deleted, or a database was reset). */
async function orphanJobs(sql: Sql, queue: Queue): Promise<ReconcileAction[]> {
  const found: ReconcileAction[] = [];
  const pageSize = 1000;
  for (let start = 0; ; start += pageSize) {
    const jobs = await queue.getJobs([...ORPHAN_SCAN_STATES], start, start + pageSize - 1, true);
    const withRun = jobs.filter((j) => j?.id && typeof (j.data as { runId?: unknown })?.runId === "string");
    if (withRun.length > 0) {
      const ids = withRun.map((j) => (j.data as { runId: string }).runId);
      const known = new Set(
        (await sql<{ id: string }[]>`SELECT id FROM "Run" WHERE id = ANY(${sql.array(ids)}::text[])`).map(
          (r) => r.id,
        ),
      );
      for (const j of withRun) {
        const runId = (j.data as { runId: string }).runId;
        if (!known.has(runId))
          found.push({
            action: "remove-orphan-job",
            jobId: j.id!,
            reason: `no run ${runId} in the database`,
          });
      }
    }
    if (jobs.length < pageSize) break;
  }
  return found;
}

export interface Reconciler {
  /** The pass now running, if any, then no more. */
  stop(): Promise<void>;
  /** One pass now (for tests and the start-up pass). */
  runOnce(): Promise<ReconcileReport | null>;
}

/**
 * Reconciles at start-up and then every `intervalMs`. Several API processes may run one: a Redis
 * lock lets one pass run at a time across them.
 */
export function startReconciler(
  deps: ReconcileDeps & { logger: Logger; redis: Redis },
  opts: { intervalMs: number; staleAfterMs: number; lockKey: string },
): Reconciler {
  let running: Promise<ReconcileReport | null> | null = null;
  let stopped = false;
  const once = async (): Promise<ReconcileReport | null> => {
    const client = deps.redis;
    const token = `${process.pid}-${Date.now()}`;
    const got = await client.set(opts.lockKey, token, "PX", Math.max(opts.intervalMs, 10_000), "NX");
    if (got !== "OK") return null;
    try {
      const report = await reconcileRuns(deps, { staleAfterMs: opts.staleAfterMs });
      if (report.actions.length > 0 || report.errors.length > 0)
        deps.logger.info(
          { runsChecked: report.runsChecked, actions: report.actions.length, errors: report.errors },
          "reconciled runs with the queue",
        );
      return report;
    } finally {
      if ((await client.get(opts.lockKey)) === token) await client.del(opts.lockKey);
    }
  };
  const runOnce = () => {
    running ??= once()
      .catch((err) => {
        deps.logger.warn({ err: (err as Error).message }, "reconcile pass failed; the next one retries");
        return null;
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void runOnce();
  }, opts.intervalMs);
  timer.unref();
  void runOnce();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
