/**
 * The one-dimensional half of Integrated Gradients: where on the path [0, 1] to take gradients and
 * with which weight each one enters the integral. Pure (the model is behind `evaluate`), so the
 * scheme can be tested and counted without a network.
 *
 * Every evaluated point gives f and its path derivative df/dalpha ("slope"), so every panel [a, b]
 * has an exact local check: its quadrature of the slope against f(b) - f(a). The sum of those
 * panel errors is the completeness error of the whole rule. While it is above the tolerance, the
 * panels with the largest errors are halved; halving keeps every point a panel already had (both
 * rules nest), so no evaluated gradient is ever thrown away.
 */

/**
 * "trapezoid": panels of one interval, weights 1/2, 1/2 (error O(h^2) per unit length; halving a
 * panel costs one evaluation). "simpson": panels of two intervals, weights 1/6, 4/6, 1/6 (O(h^4)
 * where the slope is smooth; halving a panel costs two evaluations). Both rules use the same
 * uniform points for the same number of intervals; only the weights differ.
 */
export type QuadratureRule = "trapezoid" | "simpson";

/** Below this the difference f(x) - f(baseline) is noise and the gap is reported absolute. */
export const DELTA_FLOOR = 1e-6;

const RULES: Record<QuadratureRule, { intervals: number; weights: readonly number[] }> = {
  trapezoid: { intervals: 1, weights: [1 / 2, 1 / 2] },
  simpson: { intervals: 2, weights: [1 / 6, 4 / 6, 1 / 6] },
};

/** What the scheme needs to know about one evaluated point. */
export interface PathSample {
  alpha: number;
  /** f at this point of the path, on the attributed output. */
  f: number;
  /** df/dalpha = sum_i g_i (x_i - x'_i). */
  slope: number;
}

export interface PathQuadratureOptions {
  /** Initial uniform intervals (rounded up to whole panels: even for Simpson). */
  steps: number;
  /** Interval budget; refinement stops once the grid has this many intervals. */
  maxSteps: number;
  /** Stop once the relative completeness error is below this. */
  tolerance: number;
  /** f(1) - f(0): the denominator of the relative gap. */
  delta: number;
  /** Most new points asked for in one refinement round (evaluate may batch them as it likes). */
  chunk: number;
  rule: QuadratureRule;
}

export interface PathQuadrature<P extends PathSample> {
  /** Every evaluated point, by increasing alpha. */
  points: P[];
  /** The quadrature weight of each point (same order); they sum to 1. */
  weights: Float64Array;
  /** Intervals between consecutive points (points.length - 1). */
  intervals: number;
  /** Calls of `evaluate`: the initial grid, then one per refinement round. */
  rounds: number;
}

/** |error| / |delta|, or the absolute error where delta is too small to divide by. */
export function relativeGap(error: number, delta: number): number {
  return Math.abs(delta) < DELTA_FLOOR ? Math.abs(error) : Math.abs(error) / Math.abs(delta);
}

/** One panel's quadrature of the slope minus the exact change f(b) - f(a). */
function panelError(pts: readonly PathSample[], weights: readonly number[]): number {
  const a = pts[0] as PathSample;
  const b = pts[pts.length - 1] as PathSample;
  let q = 0;
  for (let j = 0; j < pts.length; j++) q += (weights[j] as number) * (pts[j] as PathSample).slope;
  return (b.alpha - a.alpha) * q - (b.f - a.f);
}

/**
 * Adaptive composite quadrature of the path derivative. `evaluate(alphas)` returns one point per
 * alpha, in order (it may batch them as it likes).
 */
export async function integratePath<P extends PathSample>(
  evaluate: (alphas: number[]) => Promise<P[]>,
  o: PathQuadratureOptions,
): Promise<PathQuadrature<P>> {
  const rule = RULES[o.rule];
  const per = rule.intervals;
  const nPanels = Math.ceil(o.steps / per);
  const n0 = nPanels * per;
  const first = await evaluate(Array.from({ length: n0 + 1 }, (_, k) => k / n0));
  let rounds = 1;
  // Each panel holds its per + 1 equally spaced points; neighbours share their end point objects.
  let panels: P[][] = Array.from({ length: nPanels }, (_, i) => first.slice(i * per, i * per + per + 1));
  let intervals = n0;
  const maxSteps = Math.max(n0, o.maxSteps);
  for (;;) {
    const errs = panels.map((p) => panelError(p, rule.weights));
    let signed = 0;
    let totalAbs = 0;
    for (const e of errs) {
      signed += e;
      totalAbs += Math.abs(e);
    }
    if (relativeGap(signed, o.delta) < o.tolerance) break;
    // Split the fewest panels that hold 80% of the absolute error, at most a chunk of new points,
    // within the interval budget.
    const room = Math.min(Math.max(1, Math.floor(o.chunk / per)), Math.floor((maxSteps - intervals) / per));
    if (room < 1) break;
    const order = errs.map((e, i) => ({ i, e: Math.abs(e) })).sort((p, q) => q.e - p.e);
    const chosen: number[] = [];
    let covered = 0;
    for (const { i, e } of order) {
      if (chosen.length >= room || (chosen.length > 0 && covered >= 0.8 * totalAbs)) break;
      chosen.push(i);
      covered += e;
    }
    const alphas: number[] = [];
    for (const i of chosen) {
      const pts = panels[i] as P[];
      for (let j = 0; j < per; j++) alphas.push(((pts[j] as P).alpha + (pts[j + 1] as P).alpha) / 2);
    }
    const fresh = await evaluate(alphas);
    rounds++;
    const split = new Map<number, P[][]>();
    chosen.forEach((i, c) => {
      const pts = panels[i] as P[];
      // Old and new points interleaved: 2 per + 1 equally spaced points, two child panels.
      const merged: P[] = [];
      for (let j = 0; j < per; j++) merged.push(pts[j] as P, fresh[c * per + j] as P);
      merged.push(pts[per] as P);
      split.set(i, [merged.slice(0, per + 1), merged.slice(per)]);
    });
    panels = panels.flatMap((p, i) => split.get(i) ?? [p]);
    intervals += per * chosen.length;
  }
  const points: P[] = [panels[0]?.[0] as P];
  const weights: number[] = [0];
  for (const pts of panels) {
    const h = (pts[pts.length - 1] as P).alpha - (pts[0] as P).alpha;
    // The first point of a panel is the last one of the previous panel (already listed).
    weights[weights.length - 1] = (weights[weights.length - 1] as number) + h * (rule.weights[0] as number);
    for (let j = 1; j < pts.length; j++) {
      points.push(pts[j] as P);
      weights.push(h * (rule.weights[j] as number));
    }
  }
  return { points, weights: Float64Array.from(weights), intervals, rounds };
}
