import { createRng, type Rng } from "../prng";
import type { Distribution } from "./searchSpace";

/**
 * A small Tree-structured Parzen Estimator (Bergstra et al., 2011) for bayes sweeps. The finished
 * trials are split into the best `gamma` share ("good") and the rest ("bad"); each axis gets a
 * Parzen density for both groups (truncated Gaussians, in log space for loguniform; smoothed counts
 * for choice), and the next point is the one of `candidates` draws from the good density with the
 * highest good/bad ratio. Axes are modelled independently, as in the original TPE.
 *
 * Pruned trials are evidence too: they rank below every completed trial (a run the sweep stopped
 * early was, by the rule, behind the others), so they land in the bad group and steer proposals
 * away from their region.
 */

export interface Observation {
  /** The trial's values, one per distribution axis. */
  point: Record<string, unknown>;
  /** Higher is better. */
  score: number;
  /** Stopped by early termination: ranks below every completed trial. */
  pruned: boolean;
}

export interface TpeOptions {
  /** Share of the trials that make the good group (at least one trial). */
  gamma?: number;
  /** Draws from the good density scored per proposal. */
  candidates?: number;
  /** Share of proposals that re-draw one axis from its prior (see proposeTpe). */
  explore?: number;
}

/** What the proposer needs to know to propose the next point. */
export interface ProposalInput {
  axes: readonly [string, Distribution][];
  observations: readonly Observation[];
  seed: number;
  /** The trial being proposed: the draws are seeded by (seed, trial), so a proposal is repeatable. */
  trial: number;
  /** Points already tried or in flight: never proposed again. */
  taken: readonly Record<string, unknown>[];
}

const TAU = 2 * Math.PI;

/** The next point to try. Deterministic for the same input. */
export function proposeTpe(input: ProposalInput, options: TpeOptions = {}): Record<string, unknown> {
  const gamma = options.gamma ?? 0.25;
  const candidates = options.candidates ?? 24;
  const rng = createRng((input.seed * 2654435761 + input.trial * 40503 + 17) >>> 0);
  const ranked = [...input.observations].sort((a, b) =>
    a.pruned !== b.pruned ? (a.pruned ? 1 : -1) : b.score - a.score,
  );
  const nGood = Math.max(1, Math.ceil(gamma * ranked.length));
  const good = ranked.slice(0, nGood).map((o) => o.point);
  const bad = ranked.slice(nGood).map((o) => o.point);

  const taken = new Set(input.taken.map((p) => JSON.stringify(p)));
  const scored: { point: Record<string, unknown>; score: number }[] = [];
  for (let i = 0; i < candidates; i++) {
    const point: Record<string, unknown> = {};
    let score = 0;
    for (const [axis, d] of input.axes) {
      const model = axisModel(
        d,
        good.map((p) => p[axis]),
        bad.map((p) => p[axis]),
      );
      const x = model.sample(rng);
      point[axis] = x;
      score += model.logRatio(x);
    }
    scored.push({ point, score });
  }
  scored.sort((a, b) => b.score - a.score);
  // Independent axes can lock in: a value never seen among the good trials keeps a low ratio however
  // good it would be with the others' good values. So a share of proposals re-draws one axis from
  // its prior, keeping the rest (coordinate-wise exploration).
  if (input.axes.length > 0 && rng.next() < (options.explore ?? 0.4)) {
    const [axis, d] = input.axes[Math.floor(rng.next() * input.axes.length)]!;
    for (const c of scored) {
      const point = { ...c.point, [axis]: axisModel(d, [], []).sample(rng) };
      if (!taken.has(JSON.stringify(point))) return point;
    }
  }
  const fresh = scored.find((c) => !taken.has(JSON.stringify(c.point)));
  if (fresh) return fresh.point;
  // Every candidate was tried already (a small discrete space): fall back to any untried point.
  for (let i = 0; i < 1000; i++) {
    const point: Record<string, unknown> = {};
    for (const [axis, d] of input.axes) point[axis] = axisModel(d, [], []).sample(rng);
    if (!taken.has(JSON.stringify(point))) return point;
  }
  return scored[0]!.point;
}

interface AxisModel {
  sample(rng: Rng): unknown;
  /** log l(x) - log g(x). */
  logRatio(x: unknown): number;
}

function axisModel(d: Distribution, good: unknown[], bad: unknown[]): AxisModel {
  if ("choice" in d) return categoricalModel(d.choice, good, bad);
  if ("int" in d) {
    const [lo, hi] = d.int;
    const inner = numericModel(lo - 0.5, hi + 0.5, good as number[], bad as number[]);
    return {
      sample: (rng) => Math.min(hi, Math.max(lo, Math.round(inner.sampleRaw(rng)))),
      logRatio: (x) => inner.logRatio(x as number),
    };
  }
  const log = "loguniform" in d;
  const [lo, hi] = log ? d.loguniform : d.uniform;
  const t = log ? Math.log : (x: number) => x;
  const inner = numericModel(t(lo), t(hi), (good as number[]).map(t), (bad as number[]).map(t));
  return {
    sample: (rng) => {
      const v = log ? Math.exp(inner.sampleRaw(rng)) : inner.sampleRaw(rng);
      return Number(Math.min(hi, Math.max(lo, v)).toPrecision(4));
    },
    logRatio: (x) => inner.logRatio(t(x as number)),
  };
}

/** Parzen density over [lo, hi]: a truncated Gaussian per observation plus a wide prior one. */
function parzen(lo: number, hi: number, xs: number[]) {
  const span = hi - lo;
  const mus = [...xs, (lo + hi) / 2];
  const sorted = [...xs].sort((a, b) => a - b);
  const minSigma = span / Math.min(100, xs.length + 1);
  const sigmas = xs.map((x) => {
    const i = sorted.indexOf(x);
    const left = i > 0 ? x - sorted[i - 1]! : x - lo;
    const right = i < sorted.length - 1 ? sorted[i + 1]! - x : hi - x;
    return Math.min(span, Math.max(minSigma, left, right));
  });
  sigmas.push(span);
  const w = 1 / mus.length;
  const mass = mus.map((mu, k) => normalCdf((hi - mu) / sigmas[k]!) - normalCdf((lo - mu) / sigmas[k]!));
  return {
    sample(rng: Rng): number {
      const k = Math.min(mus.length - 1, Math.floor(rng.next() * mus.length));
      for (let tries = 0; tries < 100; tries++) {
        const x = mus[k]! + sigmas[k]! * rng.normal();
        if (x >= lo && x <= hi) return x;
      }
      return lo + rng.next() * span;
    },
    logPdf(x: number): number {
      let p = 0;
      for (let k = 0; k < mus.length; k++) {
        const z = (x - mus[k]!) / sigmas[k]!;
        p += (w * Math.exp(-0.5 * z * z)) / (sigmas[k]! * Math.sqrt(TAU) * Math.max(mass[k]!, 1e-12));
      }
      return Math.log(Math.max(p, 1e-300));
    },
  };
}

function numericModel(lo: number, hi: number, good: number[], bad: number[]) {
  const l = parzen(lo, hi, good);
  const g = parzen(lo, hi, bad);
  return { sampleRaw: (rng: Rng) => l.sample(rng), logRatio: (x: number) => l.logPdf(x) - g.logPdf(x) };
}

function categoricalModel(values: unknown[], good: unknown[], bad: unknown[]): AxisModel {
  const ids = values.map((v) => JSON.stringify(v));
  const weights = (obs: unknown[]) => {
    const w = ids.map(() => 1); // the prior: one pseudo-count per value
    for (const o of obs) {
      const i = ids.indexOf(JSON.stringify(o));
      if (i >= 0) w[i]! += 1;
    }
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / total);
  };
  const pl = weights(good);
  const pg = weights(bad);
  return {
    sample(rng) {
      let u = rng.next();
      for (let i = 0; i < pl.length; i++) {
        u -= pl[i]!;
        if (u < 0) return structuredClone(values[i]);
      }
      return structuredClone(values[values.length - 1]);
    },
    logRatio(x) {
      const i = ids.indexOf(JSON.stringify(x));
      return Math.log(pl[i]!) - Math.log(pg[i]!);
    },
  };
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 through erf; error < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}
