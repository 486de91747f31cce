import type { Sql } from "@xnn/db";
import {
  distributionAxes,
  expandSweep,
  initialBayesPoints,
  type Logger,
  type Observation,
  parseSweepSource,
  proposeTpe,
  runIdFor,
  runJobId,
  type SweepSearch,
} from "@xnn/shared";
import type { FlowProducer } from "bullmq";
import { buildFlows } from "./buildFlows";

/**
 * The scheduler side of bayes sweeps. A bayes sweep starts with a few points drawn at random
 * (initialBayesPoints); each time one of its points ends (all its runs: FE and FT), the next point
 * is proposed by TPE from every ended point (best val.f1 of its runs; pruned points count as worse
 * than every completed one), expanded exactly as the first ones, stored and enqueued. As many
 * points run at once as were drawn at first, until `runs` points were tried.
 */
export interface ProposerDeps {
  sql: Sql;
  flows: FlowProducer;
  logger?: Logger;
}

export interface Proposal {
  sweepId: string;
  trial: number;
  params: Record<string, unknown>;
  runIds: string[];
}

interface TrialRunRow {
  trial: number | null;
  status: string;
  bestValF1: number | null;
  params: Record<string, unknown> | null;
}

const ENDED = new Set(["succeeded", "failed", "cancelled", "pruned"]);

export async function proposePass(deps: ProposerDeps): Promise<Proposal[]> {
  const sweeps = await deps.sql<{ id: string; sourceYaml: string; search: SweepSearch }[]>`
    SELECT id, "sourceYaml", search FROM "Sweep"
    WHERE status IN ('queued', 'running') AND search->>'method' = 'bayes'`;
  const proposals: Proposal[] = [];
  for (const sweep of sweeps) {
    try {
      proposals.push(...(await proposeForSweep(deps, sweep)));
    } catch (err) {
      deps.logger?.warn(
        { sweepId: sweep.id, err: (err as Error).message },
        "could not propose the next point",
      );
    }
  }
  return proposals;
}

async function proposeForSweep(
  deps: ProposerDeps,
  row: { id: string; sourceYaml: string; search: SweepSearch },
): Promise<Proposal[]> {
  const { sql } = deps;
  const sweep = parseSweepSource(row.sourceYaml);
  const total = sweep.runs ?? 0;
  const runs = await sql<TrialRunRow[]>`
    SELECT trial, status::text AS status, "bestValF1", params FROM "Run" WHERE "sweepId" = ${row.id}`;
  const trials = new Map<number, TrialRunRow[]>();
  for (const r of runs) if (r.trial !== null) trials.set(r.trial, [...(trials.get(r.trial) ?? []), r]);
  const issued = trials.size === 0 ? 0 : Math.max(...trials.keys()) + 1;
  const open = [...trials.values()].filter((rs) => rs.some((r) => !ENDED.has(r.status))).length;
  const wanted = Math.min(initialBayesPoints(sweep) - open, total - issued);
  if (wanted <= 0) return [];

  const observations: Observation[] = [];
  for (const rs of trials.values()) {
    if (rs.some((r) => !ENDED.has(r.status))) continue;
    const scores = rs.map((r) => r.bestValF1).filter((v): v is number => v !== null);
    const params = rs[0]!.params;
    if (scores.length === 0 || !params) continue; // failed before any epoch: nothing learnt
    observations.push({
      point: params,
      score: Math.max(...scores),
      pruned: rs.some((r) => r.status === "pruned"),
    });
  }
  const axes = distributionAxes(sweep);
  const taken = [...trials.values()]
    .map((rs) => rs[0]!.params)
    .filter((p): p is Record<string, unknown> => !!p);
  const points: Record<string, unknown>[] = [];
  for (let i = 0; i < wanted; i++) {
    const point = proposeTpe({
      axes,
      observations,
      seed: sweep.seed,
      trial: issued + i,
      taken: [...taken, ...points],
    });
    points.push(point);
  }

  const expanded = expandSweep({
    sweep,
    bases: new Map(Object.entries(row.search.bases ?? {})),
    baseIsDirectory: row.search.baseIsDirectory ?? false,
    maxRuns: Number.MAX_SAFE_INTEGER,
    points: { firstTrial: issued, values: points },
  });
  if (expanded.issues.length > 0) throw new Error(expanded.issues.map((i) => i.message).join("; "));
  const rows = expanded.runs.map((run) => ({
    id: runIdFor(row.id, run.key),
    sweepId: row.id,
    key: run.key,
    config: run.config,
    configHash: run.configHash,
    model: run.model,
    classWeighting: run.classWeighting,
    stage: run.stage,
    feRunId: run.dependsOn ? runIdFor(row.id, run.dependsOn) : null,
    jobId: runJobId(row.id, run.configHash),
    trial: run.trial,
    params: run.params,
  }));
  // Keys name the trial, so a second proposer racing this one for the same trial inserts nothing,
  // and only the rows inserted here get jobs.
  const inserted = await sql<{ id: string }[]>`
    INSERT INTO "Run" ("id", "sweepId", "key", "config", "configHash", "model", "classWeighting", "stage", "feRunId", "jobId", "status", "trial", "params")
    SELECT r."id", r."sweepId", r."key", r."config", r."configHash", r."model", r."classWeighting",
           r."stage"::"Stage", r."feRunId", r."jobId", 'queued'::"RunStatus", r."trial", r."params"
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) AS r(
      "id" text, "sweepId" text, "key" text, "config" jsonb, "configHash" text, "model" text,
      "classWeighting" text, "stage" text, "feRunId" text, "jobId" text, "trial" int, "params" jsonb)
    ORDER BY (r."feRunId" IS NOT NULL)
    ON CONFLICT ("sweepId", "key") DO NOTHING
    RETURNING id`;
  const mine = new Set(inserted.map((r) => r.id));
  const newRuns = expanded.runs.filter((r) => mine.has(runIdFor(row.id, r.key)));
  if (newRuns.length === 0) return [];
  // Should Redis refuse, the rows stay queued without jobs and the reconciler enqueues them.
  await deps.flows.addBulk(buildFlows(row.id, { runs: newRuns }));
  const byTrial = new Map<number, string[]>();
  for (const r of newRuns) byTrial.set(r.trial!, [...(byTrial.get(r.trial!) ?? []), runIdFor(row.id, r.key)]);
  const proposals = [...byTrial.entries()].map(([trial, runIds]) => ({
    sweepId: row.id,
    trial,
    params: points[trial - issued]!,
    runIds,
  }));
  for (const p of proposals) deps.logger?.info({ ...p }, "proposed the next point of a bayes sweep");
  return proposals;
}
