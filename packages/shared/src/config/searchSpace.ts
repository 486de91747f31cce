import type { Rng } from "../prng";

/**
 * The search space of a random or bayes sweep: each axis either lists values (a fixed axis,
 * crossed with every sampled point, as in a grid) or names a distribution to draw from.
 */

export const SEARCH_METHODS = ["grid", "random", "bayes"] as const;
export type SearchMethod = (typeof SEARCH_METHODS)[number];

export type Distribution =
  | { choice: unknown[] }
  | { uniform: [number, number] }
  | { loguniform: [number, number] }
  | { int: [number, number] };

export const DISTRIBUTION_KINDS = ["choice", "uniform", "loguniform", "int"] as const;
export type DistributionKind = (typeof DISTRIBUTION_KINDS)[number];

/** One axis of a sweep file as validated: a list of values, or a distribution. */
export type AxisSpec = unknown[] | Distribution;

export interface AxisProblem {
  /** Path below the axis, e.g. ["loguniform", 0]. */
  path: (string | number)[];
  message: string;
  atKey?: boolean;
}

export function isDistribution(spec: AxisSpec): spec is Distribution {
  return !Array.isArray(spec);
}

export function distributionKind(d: Distribution): DistributionKind {
  return Object.keys(d)[0] as DistributionKind;
}

/**
 * Checks one axis value of a sweep file: a non-empty list, or a mapping with exactly one of
 * choice / uniform / loguniform / int whose bounds make a non-empty range. Every problem names the
 * place below the axis it is at.
 */
export function checkAxisSpec(value: unknown): AxisProblem[] {
  if (Array.isArray(value)) {
    return value.length === 0 ? [{ path: [], message: "must have at least 1 item(s)" }] : [];
  }
  if (value === null || typeof value !== "object") {
    return [
      {
        path: [],
        message: `expected a list of values or a distribution ({choice: [...]}, {uniform: [a, b]}, {loguniform: [a, b]}, {int: [a, b]}), got ${JSON.stringify(value)}`,
      },
    ];
  }
  const keys = Object.keys(value);
  const unknown = keys.filter((k) => !(DISTRIBUTION_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    return [
      {
        path: [unknown[0]!],
        message: `unknown distribution "${unknown[0]}"; expected one of ${DISTRIBUTION_KINDS.join(", ")}`,
        atKey: true,
      },
    ];
  }
  if (keys.length !== 1) {
    return [{ path: [keys[1]!], message: "a distribution names exactly one kind", atKey: true }];
  }
  const kind = keys[0] as DistributionKind;
  const args = (value as Record<string, unknown>)[kind];
  if (kind === "choice") {
    if (!Array.isArray(args) || args.length === 0) {
      return [{ path: [kind], message: "choice needs a non-empty list of values" }];
    }
    const seen = new Map<string, number>();
    for (const [i, v] of args.entries()) {
      const id = JSON.stringify(v);
      if (seen.has(id))
        return [{ path: [kind, i], message: `duplicate value ${id} (already at index ${seen.get(id)})` }];
      seen.set(id, i);
    }
    return [];
  }
  if (!Array.isArray(args) || args.length !== 2) {
    return [{ path: [kind], message: `${kind} needs two bounds [low, high]` }];
  }
  for (const [i, bound] of args.entries()) {
    if (typeof bound !== "number" || !Number.isFinite(bound)) {
      return [{ path: [kind, i], message: `bound must be a finite number, got ${JSON.stringify(bound)}` }];
    }
    if (kind === "int" && !Number.isInteger(bound)) {
      return [{ path: [kind, i], message: `int bounds must be integers, got ${bound}` }];
    }
    if (kind === "loguniform" && bound <= 0) {
      return [{ path: [kind, i], message: `loguniform needs positive bounds, got ${bound}` }];
    }
  }
  const [lo, hi] = args as [number, number];
  if (lo === hi)
    return [{ path: [kind], message: `empty range [${lo}, ${hi}]; put a single value in overrides` }];
  if (lo > hi) return [{ path: [kind], message: `inverted range [${lo}, ${hi}]; the low bound comes first` }];
  return [];
}

/** Rounds to 4 significant digits: sampled values stay readable in run keys and logs, and exact in YAML. */
export function roundSampled(x: number): number {
  if (x === 0) return 0;
  return Number(x.toPrecision(4));
}

/** One draw from a distribution. */
export function sample(d: Distribution, rng: Rng): unknown {
  if ("choice" in d) return structuredClone(d.choice[Math.floor(rng.next() * d.choice.length)]);
  if ("uniform" in d) return roundSampled(rng.uniform(d.uniform[0], d.uniform[1]));
  if ("loguniform" in d) {
    const [lo, hi] = d.loguniform;
    return roundSampled(Math.exp(rng.uniform(Math.log(lo), Math.log(hi))));
  }
  return rng.int(d.int[0], d.int[1]);
}

/** How many distinct values a distribution can yield; Infinity for continuous ones. */
export function distinctValues(d: Distribution): number {
  if ("choice" in d) return d.choice.length;
  if ("int" in d) return d.int[1] - d.int[0] + 1;
  return Number.POSITIVE_INFINITY;
}

/** A distribution as the dry run prints it, e.g. `loguniform(0.0001, 0.01)`. */
export function formatDistribution(d: Distribution): string {
  if ("choice" in d) return `choice(${d.choice.map((v) => JSON.stringify(v)).join(", ")})`;
  const kind = distributionKind(d);
  const [lo, hi] = (d as Record<string, [number, number]>)[kind]!;
  return `${kind}(${lo}, ${hi})`;
}

/**
 * Draws `count` distinct points of the space from one seeded stream. Axes are drawn in the order
 * the sweep file lists them, so the same file and seed always give the same points. A point equal
 * to an earlier one is drawn again (equal points would be one job); a space too small for `count`
 * distinct points is the caller's error to report, checked with `spaceSize` first.
 */
export function samplePoints(
  axes: readonly [string, Distribution][],
  count: number,
  rng: Rng,
): Record<string, unknown>[] {
  const points: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  const budget = Math.max(1000, count * 100);
  for (let tries = 0; points.length < count && tries < budget; tries++) {
    const point: Record<string, unknown> = {};
    for (const [key, d] of axes) point[key] = sample(d, rng);
    const id = JSON.stringify(point);
    if (seen.has(id)) continue;
    seen.add(id);
    points.push(point);
  }
  return points;
}

/** Distinct points a space holds (Infinity when any axis is continuous). */
export function spaceSize(axes: readonly [string, Distribution][]): number {
  return axes.reduce((n, [, d]) => n * distinctValues(d), 1);
}
