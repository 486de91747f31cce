import { ashaRungs } from "@xnn/orchestration";
import { formatDistribution, isDistribution, type SweepSearch } from "@xnn/shared";

/**
 * The search space and early-termination rule of a sweep, as lines for a terminal. `epochs`: the
 * runs' train.epochs; when they agree, ASHA's rungs are listed as epochs of that budget.
 */
export function describeSearch(search: SweepSearch, epochs: readonly number[] = []): string[] {
  const lines: string[] = [];
  const how =
    search.method === "grid"
      ? "grid (every combination of the axes)"
      : `${search.method}, ${search.runs} points, seed ${search.seed}`;
  lines.push(`Search: ${how}`);
  const width = Math.max(...Object.keys(search.space).map((k) => k.length));
  for (const [axis, spec] of Object.entries(search.space)) {
    const shown = isDistribution(spec)
      ? formatDistribution(spec)
      : `[${spec.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(", ")}]${search.method === "grid" ? "" : "  (fixed)"}`;
    lines.push(`  ${axis.padEnd(width)}  ${shown}`);
  }
  const et = search.earlyTerminate;
  if (et) {
    const detail =
      et.method === "asha"
        ? `rungs at ${et.minEpochs} x ${et.reductionFactor}^k epochs${budgetRungs(et.minEpochs, et.reductionFactor, epochs)}, top 1/${et.reductionFactor} go on`
        : `from epoch ${et.minEpochs}, against the median of at least ${et.minRuns} runs`;
    const stages = et.stages ? `, ${et.stages.join(" and ").toUpperCase()} runs only` : "";
    lines.push(`Early termination: ${et.method} on ${et.metric} (${detail}${stages})`);
  }
  return lines;
}

/** ": 2, 4, 8 of 16" when every run has the same budget; empty otherwise. */
function budgetRungs(minEpochs: number, reductionFactor: number, epochs: readonly number[]): string {
  const budgets = new Set(epochs);
  if (budgets.size !== 1) return "";
  const [budget] = [...budgets] as [number];
  const rungs = ashaRungs(minEpochs, reductionFactor, budget);
  return `: ${rungs.length > 0 ? rungs.join(", ") : "none"} of ${budget}`;
}
