import {
  type LoadedSweep,
  type PipelineConfig,
  RUN_JOB_NAME,
  RUN_JOB_VERSION,
  RUNS_QUEUE,
  type RunJobPayload,
  type RunSpec,
  runCost,
  runIdFor,
  runJobId,
  runJobOptions,
  runPriority,
} from "@xnn/shared";
import type { FlowJob } from "bullmq";

/** What a run's job is made of: the same for a fresh sweep and for a run the reconciler re-enqueues. */
export interface RunJobSource {
  runId: string;
  sweepId: string;
  key: string;
  configHash: string;
  config: unknown;
  feRunId: string | null;
  /**
   * Estimated work of this run plus the runs that wait on it (runCost units); sets the queue
   * priority, longest chain first. Default: the run's own cost.
   */
  pathCost?: number;
}

export function runJob(run: RunJobSource): Omit<FlowJob, "children"> {
  const pathCost = run.pathCost ?? ownCost(run.config);
  const data = {
    v: RUN_JOB_VERSION,
    runId: run.runId,
    sweepId: run.sweepId,
    runKey: run.key,
    configHash: run.configHash,
    config: run.config as RunJobPayload["config"],
    feRunId: run.feRunId,
  } satisfies RunJobPayload;
  return {
    name: RUN_JOB_NAME,
    queueName: RUNS_QUEUE,
    data,
    opts: {
      ...runJobOptions,
      jobId: runJobId(run.sweepId, run.configHash),
      ...(pathCost === null ? {} : { priority: runPriority(pathCost) }),
    },
  };
}

/** A run's own estimated work, or null for a config this code cannot read (then it gets no priority). */
function ownCost(config: unknown): number | null {
  try {
    const c = runCost(config as PipelineConfig);
    return Number.isFinite(c) ? c : null;
  } catch {
    return null;
  }
}

/** An FT run's flow: the FT job is the parent of the FE job it starts from (see buildFlows). */
export function fineTuneFlow(ft: Omit<FlowJob, "children">, fe: Omit<FlowJob, "children">): FlowJob {
  return { ...ft, children: [{ ...fe, opts: { ...fe.opts, ignoreDependencyOnFailure: true } }] };
}

function jobFor(
  sweepId: string,
  run: RunSpec,
  runsByKey: Map<string, RunSpec>,
  pathCost?: number,
): Omit<FlowJob, "children"> {
  const fe = run.dependsOn ? runsByKey.get(run.dependsOn)! : null;
  return runJob({
    pathCost,
    runId: runIdFor(sweepId, run.key),
    sweepId,
    key: run.key,
    configHash: run.configHash,
    config: run.config,
    feRunId: fe ? runIdFor(sweepId, fe.key) : null,
  });
}

/**
 * One BullMQ flow per FE run: the FE job is the child, the FT runs that start from it are parents
 * (a parent runs only after its child finished). A failed FE child does not leave its FT parent
 * waiting forever: the parent runs, sees the failure, and records it. Priorities put the longest
 * chain (an FE run plus the FT run waiting on it, by estimated work) first.
 */
export function buildFlows(sweepId: string, loaded: Pick<LoadedSweep, "runs">): FlowJob[] {
  const runsByKey = new Map(loaded.runs.map((r) => [r.key, r]));
  // expandSweep pairs each FT run with the one FE run that shares all its other axis values.
  const ftByFe = new Map<string, RunSpec>();
  for (const run of loaded.runs) if (run.dependsOn) ftByFe.set(run.dependsOn, run);
  const flows: FlowJob[] = [];
  for (const run of loaded.runs) {
    if (run.stage !== "fe") continue;
    const ft = ftByFe.get(run.key);
    const ftCost = ft ? runCost(ft.config) : 0;
    const fe = jobFor(sweepId, run, runsByKey, runCost(run.config) + ftCost);
    if (!ft) {
      flows.push(fe);
      continue;
    }
    flows.push(fineTuneFlow(jobFor(sweepId, ft, runsByKey, ftCost), fe));
  }
  return flows;
}
