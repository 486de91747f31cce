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
