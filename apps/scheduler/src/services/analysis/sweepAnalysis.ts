import type { PrismaClient } from "@xnn/db";

type Scalar = string | number | boolean | null;

/** One level of one axis: the runs that had it and their mean test weighted F1 and per-class recall. */
export interface AxisLevel {
  value: Scalar;
  runs: number;
  meanTestF1: number;
  meanRecall: Record<string, number | null>;
}

/** A config path whose value differs between a sweep's runs, and what each of its values did. */
export interface AxisEffect {
  axis: string;
  levels: AxisLevel[];
  /** Best minus worst level mean of test weighted F1: the axis's marginal effect. */
  f1Range: number;
  /** The same range per class, of the mean recall (null where a class has no recall recorded). */
  recallRange: Record<string, number | null>;
}

export interface SweepAnalysis {
  sweepId: string;
  runs: number;
  axes: AxisEffect[];
  /** One row per succeeded run, axes as columns: the data of a parallel-coordinates view. */
  parallel: Record<string, Scalar>[];
}

/** Scalar leaves of a config object as dot paths: { train: { learningRate: 0.01 } } -> "train.learningRate". */
export function flattenConfig(
  value: unknown,
  prefix = "",
  out: Record<string, Scalar> = {},
): Record<string, Scalar> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value)) {
    out[prefix] = JSON.stringify(value);
  } else if (prefix) {
    out[prefix] = value as Scalar;
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Per axis of a sweep (every config path whose value varies across its succeeded runs), the mean
 * test weighted F1 and per-class test recall of the runs at each value, and the spread of those
 * means. Marginal means: with a full grid every level sees every combination of the other axes.
 */
export async function analyseSweep(prisma: PrismaClient, sweepId: string): Promise<SweepAnalysis> {
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
  const flat = runs.map((r) => flattenConfig(r.config));
  const recalls = runs.map((r) => {
    const perClass = (r.evaluations[0]?.perClass ?? {}) as Record<string, { recall?: number }>;
    return Object.fromEntries(
      Object.entries(perClass).map(([c, m]) => [c, typeof m?.recall === "number" ? m.recall : null]),
    );
  });
  const classNames = [...new Set(recalls.flatMap((r) => Object.keys(r)))].sort();
  const paths = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const axes: AxisEffect[] = [];
  for (const axis of paths) {
    const groups = new Map<string, { value: Scalar; idx: number[] }>();
    flat.forEach((f, i) => {
      const value = f[axis] ?? null;
      const key = JSON.stringify(value);
      const g = groups.get(key) ?? { value, idx: [] };
      g.idx.push(i);
      groups.set(key, g);
    });
    if (groups.size < 2) continue;
    const levels: AxisLevel[] = [...groups.values()]
      .map(({ value, idx }) => ({
        value,
        runs: idx.length,
        meanTestF1: mean(idx.map((i) => runs[i]!.testF1!)),
        meanRecall: Object.fromEntries(
          classNames.map((c) => {
            const xs = idx.map((i) => recalls[i]![c]).filter((x): x is number => typeof x === "number");
            return [c, xs.length ? mean(xs) : null];
          }),
        ),
      }))
      .sort((a, b) => (String(a.value) < String(b.value) ? -1 : String(a.value) > String(b.value) ? 1 : 0));
    const spread = (xs: (number | null)[]) => {
      const ok = xs.filter((x): x is number => x !== null);
      return ok.length ? Math.max(...ok) - Math.min(...ok) : null;
    };
    axes.push({
      axis,
      levels,
      f1Range: spread(levels.map((l) => l.meanTestF1)) ?? 0,
      recallRange: Object.fromEntries(
        classNames.map((c) => [c, spread(levels.map((l) => l.meanRecall[c] ?? null))]),
      ),
    });
  }
  axes.sort((a, b) => b.f1Range - a.f1Range || (a.axis < b.axis ? -1 : 1));
  const parallel = runs.map((r, i) => ({
    runId: r.id,
    key: r.key,
    testF1: r.testF1,
    ...Object.fromEntries(axes.map((a) => [a.axis, flat[i]![a.axis] ?? null])),
  }));
  return { sweepId, runs: runs.length, axes, parallel };
}
