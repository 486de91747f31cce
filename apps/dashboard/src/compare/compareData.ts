import { seriesColor } from "../common/format";
import type { CompareRun, Confusion } from "../types";

/** Total points a chart may draw across all its lines: the per-line budget shrinks as runs grow. */
export const POINT_BUDGET = 6000;

export function pointsPerLine(lines: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.floor(POINT_BUDGET / Math.max(1, lines))));
}

export function runColors(runs: CompareRun[]): Map<string, string> {
  return new Map(runs.map((r, i) => [r.id, seriesColor(i)]));
}

/** The compared run's test confusion matrix, if it has one. */
export function testConfusion(run: CompareRun): Confusion | null {
  return run.confusion;
}

/** Class names in the order they first appear, with the micro-average last. */
export function curveNames(runs: CompareRun[]): string[] {
  const names = new Set<string>();
  for (const r of runs) for (const k of Object.keys(r.curves ?? {})) names.add(k);
  return [...names].sort((a, b) => (a === "micro" ? 1 : b === "micro" ? -1 : a.localeCompare(b)));
}

export function metricNames(runs: CompareRun[]): { splits: string[]; names: string[] } {
  const splits = new Set<string>();
  const names = new Set<string>();
  for (const r of runs) {
    for (const [split, byName] of Object.entries(r.epochs ?? {})) {
      splits.add(split);
      for (const n of Object.keys(byName)) names.add(n);
    }
  }
  return { splits: [...splits].sort().reverse(), names: [...names].sort() };
}

export function formatValue(v: unknown): string {
  if (v === undefined) return "–";
  if (v === null) return "null";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}
