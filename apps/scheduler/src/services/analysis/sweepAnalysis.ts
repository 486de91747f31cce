import type { PrismaClient } from "@xnn/db";
import {
  AXIS_BINS,
  type AxisEffect,
  type AxisLevel,
  type ConfigScalar,
  MAX_AXIS_LEVELS,
  type ParameterImportance,
  type SweepAnalysis,
} from "@xnn/shared/records";

export type { AxisEffect, AxisLevel, ParameterImportance, SweepAnalysis };

/** Scalar leaves of a config object as dot paths: { train: { learningRate: 0.01 } } -> "train.learningRate". */
export function flattenConfig(
  value: unknown,
  prefix = "",
  out: Record<string, ConfigScalar> = {},
): Record<string, ConfigScalar> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value)) {
    out[prefix] = JSON.stringify(value);
  } else if (prefix) {
    out[prefix] = value as ConfigScalar;
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A bin bound as a label: three significant digits. */
const short = (v: number) => String(Number(v.toPrecision(3)));

/** Runs (by index) grouped into one axis's levels, in display order. */
interface Group {
  value: ConfigScalar;
  bin: { min: number; max: number } | null;
  idx: number[];
}

function compareScalars(a: ConfigScalar, b: ConfigScalar): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The levels of one axis: one per distinct value, or, for a numeric axis with more than
 * MAX_AXIS_LEVELS distinct values (a random sweep's learning rate), AXIS_BINS bins by rank: a value
 * goes to bin floor(AXIS_BINS · (runs with a smaller value) / runs), so equal values share a bin.
 */
export function groupAxis(values: ConfigScalar[]): {
  kind: AxisEffect["kind"];
  binned: boolean;
  groups: Group[];
} {
  const distinct = new Map<string, Group>();
  values.forEach((value, i) => {
    const key = JSON.stringify(value);
    const g = distinct.get(key) ?? { value, bin: null, idx: [] };
    g.idx.push(i);
    distinct.set(key, g);
  });
  const numeric = values.every((v) => typeof v === "number");
  const byValue = [...distinct.values()].sort((a, b) => compareScalars(a.value, b.value));
  if (!numeric || byValue.length <= MAX_AXIS_LEVELS) {
    return { kind: numeric ? "numeric" : "categorical", binned: false, groups: byValue };
  }
  const bins: Group[] = [];
  let below = 0;
  for (const g of byValue) {
    const b = Math.min(AXIS_BINS - 1, Math.floor((AXIS_BINS * below) / values.length));
    const v = g.value as number;
    const bin = bins[b];
    if (bin?.bin) {
      bin.bin.max = v;
      bin.idx.push(...g.idx);
    } else {
      bins[b] = { value: null, bin: { min: v, max: v }, idx: [...g.idx] };
    }
    below += g.idx.length;
  }
  const used = bins.filter((g): g is Group => !!g);
  for (const g of used) {
    const { min, max } = g.bin!;
    g.value = min === max ? short(min) : `${short(min)}–${short(max)}`;
  }
  return { kind: "numeric", binned: true, groups: used };
}

/** Eta squared and epsilon squared of `y` grouped by `groups` (indices into y); see parameterImportanceSchema. */
export function varianceExplained(
  y: number[],
  groups: number[][],
): { eta2: number; epsilon2: number | null } {
  const n = y.length;
  const k = groups.length;
  const grand = mean(y);
  const total = y.reduce((s, v) => s + (v - grand) ** 2, 0);
  const between = groups.reduce((s, idx) => s + idx.length * (mean(idx.map((i) => y[i]!)) - grand) ** 2, 0);
  // Equal F1 everywhere: nothing to explain. The tolerance absorbs rounding of equal values.
  if (total <= 1e-15 * n) return { eta2: 0, epsilon2: n > k ? 0 : null };
  const eta2 = Math.min(1, between / total);
  if (n <= k) return { eta2, epsilon2: null };
  const within = Math.max(0, total - between);
  return { eta2, epsilon2: Math.max(0, (between - ((k - 1) * within) / (n - k)) / total) };
}

function searchMethod(search: unknown): SweepAnalysis["method"] {
  const m = (search as { method?: unknown } | null)?.method;
  return m === "random" || m === "bayes" ? m : "grid";
}

/**
 * Per axis of a sweep (every config path whose value varies across its succeeded runs), the mean
 * test weighted F1 and per-class test recall of the runs at each level, and the spread of those
 * means; one parallel-coordinates row per run; and for random/bayes sweeps, whose points are not
 * crossed, each axis's share of the variance of test F1. Marginal means: with a full grid every
 * level sees every combination of the other axes.
 */
export async function analyseSweep(prisma: PrismaClient, sweepId: string): Promise<SweepAnalysis> {
  const sweep = await prisma.sweep.findUnique({ where: { id: sweepId }, select: { search: true } });
  const method = searchMethod(sweep?.search ?? null);
  const runs = await prisma.run.findMany({
    where: { sweepId, status: "succeeded", testF1: { not: null } },
    select: {
      id: true,
      key: true,
      config: true,
      testF1: true,
      evaluations: { where: { split: "test" }, select: { perClass: true } },
    },
    orderBy: { key: "asc" },
  });
  const f1 = runs.map((r) => r.testF1 as number);
  const flat = runs.map((r) => flattenConfig(r.config));
  const recalls = runs.map((r) => {
    const perClass = (r.evaluations[0]?.perClass ?? {}) as Record<string, { recall?: number }>;
    return Object.fromEntries(
      Object.entries(perClass).map(([c, m]) => [c, typeof m?.recall === "number" ? m.recall : null]),
    );
  });
  const classNames = [...new Set(recalls.flatMap((r) => Object.keys(r)))].sort();
  const paths = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const spread = (xs: (number | null)[]) => {
    const ok = xs.filter((x): x is number => x !== null);
    return ok.length ? Math.max(...ok) - Math.min(...ok) : null;
  };

  const axes: AxisEffect[] = [];
  const importance: ParameterImportance[] = [];
  for (const axis of paths) {
    const { kind, binned, groups } = groupAxis(flat.map((f) => f[axis] ?? null));
    if (groups.length < 2) continue;
    const levels: AxisLevel[] = groups.map(({ value, bin, idx }) => {
      const ys = idx.map((i) => f1[i]!);
      return {
        value,
        bin,
        runs: idx.length,
        meanTestF1: mean(ys),
        minTestF1: Math.min(...ys),
        maxTestF1: Math.max(...ys),
        meanRecall: Object.fromEntries(
          classNames.map((c) => {
            const xs = idx.map((i) => recalls[i]![c]).filter((x): x is number => typeof x === "number");
            return [c, xs.length ? mean(xs) : null];
          }),
        ),
      };
    });
    axes.push({
      axis,
      kind,
      binned,
      levels,
      f1Range: spread(levels.map((l) => l.meanTestF1)) ?? 0,
      recallRange: Object.fromEntries(
        classNames.map((c) => [c, spread(levels.map((l) => l.meanRecall[c] ?? null))]),
      ),
    });
    if (method !== "grid") {
      importance.push({
        axis,
        levels: groups.length,
        ...varianceExplained(
          f1,
          groups.map((g) => g.idx),
        ),
      });
    }
  }
  // Differences below 1e-12 are rounding (two axes that group the runs alike): ties, broken by name.
  const desc = (x: number, y: number) => (Math.abs(y - x) > 1e-12 ? y - x : 0);
  axes.sort((a, b) => desc(a.f1Range, b.f1Range) || (a.axis < b.axis ? -1 : 1));
  importance.sort(
    (a, b) => desc(a.epsilon2 ?? -1, b.epsilon2 ?? -1) || desc(a.eta2, b.eta2) || (a.axis < b.axis ? -1 : 1),
  );
  const parallel = runs.map((r, i) => ({
    runId: r.id,
    key: r.key,
    testF1: f1[i]!,
    recall: Object.fromEntries(classNames.map((c) => [c, recalls[i]![c] ?? null])),
    values: Object.fromEntries(axes.map((a) => [a.axis, flat[i]![a.axis] ?? null])),
  }));
  return {
    sweepId,
    method,
    runs: runs.length,
    classNames,
    axes,
    parallel,
    importance: method === "grid" ? null : importance,
  };
}
