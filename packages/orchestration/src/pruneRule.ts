import { type EarlyTerminate, PRUNABLE_METRICS, type PruneNumbers } from "@xnn/shared";

/**
 * The early-termination rules of a sweep, as pure functions of recorded curves. A run is judged
 * at an epoch only against the runs that had reached that epoch before it did (by the time their
 * metric was recorded), so a decision never changes once made: the pruner can ask again on every
 * pass and get the same answer, and a late pass decides what an early one would have.
 */

export interface CurvePoint {
  epoch: number;
  value: number;
  /** When the value was recorded (ms since the epoch): who reached an epoch first. */
  at: number;
}

export interface Curve {
  runId: string;
  /** Epochs the run is configured for: it is not judged at its last one, which ends it anyway. */
  maxEpochs: number;
  /** One point per epoch, any order. */
  points: CurvePoint[];
}

export type PruneDecision = { prune: false } | { prune: true; reason: string; numbers: PruneNumbers };

const fmt = (x: number) => Number(x.toPrecision(4)).toString();

/** Epochs at which ASHA judges runs: minEpochs * reductionFactor^k, below maxEpochs. */
export function ashaRungs(minEpochs: number, reductionFactor: number, maxEpochs: number): number[] {
  const rungs: number[] = [];
  for (let k = 0; k < 64; k++) {
    const r = Math.round(minEpochs * reductionFactor ** k);
    if (r >= maxEpochs) break;
    if (rungs[rungs.length - 1] !== r) rungs.push(r);
  }
  return rungs;
}

/**
 * The epochs at which the rule judges a run of `stage` configured for `maxEpochs` (its rungs, for
 * ASHA); empty when the rule leaves that stage alone. A worker waits for the verdict at these.
 */
export function judgedEpochs(rule: EarlyTerminate, stage: string, maxEpochs: number): number[] {
  if (rule.stages && !(rule.stages as readonly string[]).includes(stage)) return [];
  return rule.method === "asha"
    ? ashaRungs(rule.minEpochs, rule.reductionFactor, maxEpochs)
    : range(rule.minEpochs, maxEpochs - 1);
}

/**
 * Should `runId` stop? `curves` holds the metric's curve of every run it competes with (the same
 * sweep and stage), its own included.
 */
export function decide(rule: EarlyTerminate, runId: string, curves: readonly Curve[]): PruneDecision {
  const target = curves.find((c) => c.runId === runId);
  if (!target) return { prune: false };
  const better =
    PRUNABLE_METRICS[rule.metric] === "max"
      ? (a: number, b: number) => a > b
      : (a: number, b: number) => a < b;
  const others = curves.filter((c) => c.runId !== runId);
  const latest = Math.max(0, ...target.points.map((p) => p.epoch));
  const epochs =
    rule.method === "asha"
      ? ashaRungs(rule.minEpochs, rule.reductionFactor, target.maxEpochs)
      : range(rule.minEpochs, target.maxEpochs - 1);

  for (const epoch of epochs) {
    if (epoch > latest) break;
    const reached = target.points.find((p) => p.epoch === epoch);
    if (!reached) continue;
    const value = bestUpTo(target, epoch, better)!;
    const rivals: number[] = [];
    for (const c of others) {
      const p = c.points.find((q) => q.epoch === epoch);
      if (p && p.at < reached.at) rivals.push(bestUpTo(c, epoch, better)!);
    }
    if (rule.method === "asha") {
      const of = rivals.length + 1;
      const keep = Math.max(1, Math.floor(of / rule.reductionFactor));
      const rank = rivals.filter((v) => better(v, value)).length + 1;
      if (rank <= keep) continue;
      const sorted = [...rivals, value].sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
      const threshold = sorted[keep - 1]!;
      return {
        prune: true,
        reason: `asha at epoch ${epoch}: ${rule.metric} ${fmt(value)} ranks ${rank} of ${of}; only the top ${keep} (${fmt(threshold)} or better) go on`,
        numbers: { rule: "asha", metric: rule.metric, epoch, value, threshold, of, rank, keep },
      };
    }
    if (rivals.length < rule.minRuns) continue;
    const threshold = median(rivals);
    if (better(threshold, value)) {
      return {
        prune: true,
        reason: `median at epoch ${epoch}: best ${rule.metric} ${fmt(value)} is worse than the median ${fmt(threshold)} of ${rivals.length} other runs`,
        numbers: { rule: "median", metric: rule.metric, epoch, value, threshold, of: rivals.length + 1 },
      };
    }
  }
  return { prune: false };
}

function bestUpTo(c: Curve, epoch: number, better: (a: number, b: number) => boolean): number | undefined {
  let best: number | undefined;
  for (const p of c.points) {
    if (p.epoch <= epoch && (best === undefined || better(p.value, best))) best = p.value;
  }
  return best;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** A run of a sweep as the pruner sees it. */
export interface SweepRun {
  id: string;
  /** Runs compete within their stage: FE with FE, FT with FT. */
  stage: string;
  status: string;
  /** An FT run's FE run. */
  feRunId: string | null;
  maxEpochs: number;
}

export type SweepDecision =
  | { runId: string; prune: true; reason: string; numbers: PruneNumbers }
  | { runId: string; prune: true; reason: string; numbers: null; feRunId: string };

/**
 * What the rule stops in a sweep now: each running run it prunes, and each FT run still queued
 * whose FE run the rule prunes; only runs of the rule's `stages` are judged. The second case is the one timing would otherwise decide: an FE
 * run on cached features trains its epochs in seconds and often ends before any pass sees it, and
 * an FE run that ended is no longer stopped, yet the rule's verdict on it is the same as if a pass
 * had come in time (decisions depend on recorded curves only), so the FT runs that would start from
 * it are pruned as they would have been.
 */
export function decideSweep(
  rule: EarlyTerminate,
  runs: readonly SweepRun[],
  pointsByRun: ReadonlyMap<string, CurvePoint[]>,
): SweepDecision[] {
  const cohorts = new Map<string, Curve[]>();
  for (const r of runs) {
    const curve: Curve = { runId: r.id, maxEpochs: r.maxEpochs, points: pointsByRun.get(r.id) ?? [] };
    cohorts.set(r.stage, [...(cohorts.get(r.stage) ?? []), curve]);
  }
  const byId = new Map(runs.map((r) => [r.id, r]));
  const judged = (r: SweepRun) => !rule.stages || (rule.stages as readonly string[]).includes(r.stage);
  const judge = (r: SweepRun) => decide(rule, r.id, cohorts.get(r.stage) ?? []);
  const out: SweepDecision[] = [];
  for (const run of runs) {
    if (run.status === "running") {
      if (!judged(run)) continue;
      const d = judge(run);
      if (d.prune) out.push({ runId: run.id, prune: true, reason: d.reason, numbers: d.numbers });
      continue;
    }
    const fe = run.status === "queued" && run.feRunId ? byId.get(run.feRunId) : undefined;
    // A running FE run is stopped itself (and prunes its FT runs as it ends); a pruned one already did.
    if (fe?.status !== "succeeded" || !judged(fe)) continue;
    const d = judge(fe);
    if (d.prune)
      out.push({
        runId: run.id,
        prune: true,
        reason: `its FE run ${fe.id} ended before the rule stopped it; ${d.reason}`,
        numbers: null,
        feRunId: fe.id,
      });
  }
  return out;
}
