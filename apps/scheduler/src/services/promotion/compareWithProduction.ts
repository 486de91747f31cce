import type { Prisma } from "@xnn/db";
import { PRODUCTION_ALIAS } from "@xnn/shared";
import { type McNemarResult, mcnemar } from "../stats/mcnemar";
import { pairedBootstrapF1Difference } from "../stats/pairedBootstrap";

/** Significance level used when the caller names none. */
export const DEFAULT_PROMOTION_LEVEL = 0.05;
/** Resamples of the paired bootstrap; fixed with its seed so the numbers shown are the numbers checked. */
export const PROMOTION_BOOTSTRAP_RESAMPLES = 2000;
const PROMOTION_BOOTSTRAP_SEED = 20_261_204;
const TEST_SPLIT = "test";

/**
 * The evidence a promotion is judged on: candidate and production scored on the test images both
 * were evaluated on, paired by image path.
 *
 * - `no-production`: nothing to beat, nothing to compare.
 * - `same-run`: the candidate already is production.
 * - `compared`: the numbers below are filled in.
 * - `not-comparable`: no paired evidence (no shared test images, labels or class names that
 *   disagree); `reason` says which.
 *
 * The candidate is `better` when both tests say so at `level`: the paired bootstrap interval of
 * the weighted-F1 difference (two-sided, 1 - level) lies above zero, and the exact McNemar test
 * rejects equal error rates with the candidate right more often where the two disagree. Anything
 * else (including `not-comparable`) needs an explicit override to promote.
 */
export interface PromotionComparison {
  task: string;
  candidateRunId: string;
  productionRunId: string | null;
  productionVersion: number | null;
  status: "no-production" | "same-run" | "compared" | "not-comparable";
  reason: string | null;
  level: number;
  /**
   * Whether both runs trained on the same registered data set version (null when either run has
   * none recorded). Reported, not judged: the pairing by image path and label is what the numbers use.
   */
  sameDataset: boolean | null;
  pairedImages: number;
  candidateImages: number;
  productionImages: number;
  candidateF1: number | null;
  productionF1: number | null;
  deltaF1: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  resamples: number | null;
  mcnemar: McNemarResult | null;
  better: boolean;
  requiresOverride: boolean;
}

export class ComparisonInputError extends Error {
  override name = "ComparisonInputError";
}

/** Reads a level from user input: a number in (0, 0.5]; a clear error otherwise. */
export function parsePromotionLevel(value: unknown, field = "level"): number {
  if (value === undefined || value === null || value === "") return DEFAULT_PROMOTION_LEVEL;
  const level = typeof value === "string" ? Number(value) : value;
  if (typeof level !== "number" || !Number.isFinite(level) || level <= 0 || level > 0.5) {
    throw new ComparisonInputError(
      `${field} must be a significance level in (0, 0.5], e.g. 0.05; got ${JSON.stringify(value)}`,
    );
  }
  return level;
}

type Reader = Pick<Prisma.TransactionClient, "modelVersion" | "prediction" | "confusionMatrix" | "run">;

/**
 * Compares `candidateRunId` with the task's production model. Pure reads: call it inside the
 * promotion's transaction (after its lock) to judge the production model the promotion replaces.
 */
export async function compareWithProduction(
  db: Reader,
  task: string,
  candidateRunId: string,
  level: number,
): Promise<PromotionComparison> {
  const production = await db.modelVersion.findUnique({
    where: { task_alias: { task, alias: PRODUCTION_ALIAS } },
    select: { runId: true, version: true },
  });
  const base: PromotionComparison = {
    task,
    candidateRunId,
    productionRunId: production?.runId ?? null,
    productionVersion: production?.version ?? null,
    status: "no-production",
    reason: null,
    level,
    sameDataset: null,
    pairedImages: 0,
    candidateImages: 0,
    productionImages: 0,
    candidateF1: null,
    productionF1: null,
    deltaF1: null,
    ciLow: null,
    ciHigh: null,
    resamples: null,
    mcnemar: null,
    better: true,
    requiresOverride: false,
  };
  if (!production) return base;
  if (production.runId === candidateRunId) return { ...base, status: "same-run" };
  const links = await db.run.findMany({
    where: { id: { in: [candidateRunId, production.runId] } },
    select: { id: true, datasetVersionId: true },
  });
  const candidateData = links.find((r) => r.id === candidateRunId)?.datasetVersionId ?? null;
  const productionData = links.find((r) => r.id === production.runId)?.datasetVersionId ?? null;
  base.sameDataset = candidateData && productionData ? candidateData === productionData : null;

  const notComparable = (reason: string, extra: Partial<PromotionComparison> = {}): PromotionComparison => ({
    ...base,
    ...extra,
    status: "not-comparable",
    reason,
    better: false,
    requiresOverride: true,
  });

  const names = await db.confusionMatrix.findMany({
    where: { runId: { in: [candidateRunId, production.runId] }, split: TEST_SPLIT },
    select: { runId: true, classNames: true },
  });
  const candidateClasses = names.find((n) => n.runId === candidateRunId)?.classNames;
  const productionClasses = names.find((n) => n.runId === production.runId)?.classNames;
  if (candidateClasses && productionClasses && candidateClasses.join("\n") !== productionClasses.join("\n")) {
    return notComparable(
      `the runs name different classes (candidate: ${candidateClasses.join(", ")}; production: ${productionClasses.join(", ")})`,
    );
  }

  const select = { itemPath: true, label: true, predicted: true } as const;
  const [candidateRows, productionRows] = await Promise.all([
    db.prediction.findMany({ where: { runId: candidateRunId, split: TEST_SPLIT }, select }),
    db.prediction.findMany({ where: { runId: production.runId, split: TEST_SPLIT }, select }),
  ]);
  const counts = { candidateImages: candidateRows.length, productionImages: productionRows.length };
  if (candidateRows.length === 0 || productionRows.length === 0) {
    const who =
      candidateRows.length === 0 ? `candidate run ${candidateRunId}` : `production run ${production.runId}`;
    return notComparable(`${who} has no per-image test predictions to compare`, counts);
  }
  const byPath = new Map(productionRows.map((p) => [p.itemPath, p]));
  const labels: number[] = [];
  const candidate: number[] = [];
  const baseline: number[] = [];
  let relabelled = 0;
  for (const c of candidateRows) {
    const p = byPath.get(c.itemPath);
    if (!p) continue;
    if (p.label !== c.label) {
      relabelled++;
      continue;
    }
    labels.push(c.label);
    candidate.push(c.predicted);
    baseline.push(p.predicted);
  }
  if (relabelled > 0) {
    return notComparable(
      `${relabelled} test image(s) carry a different label in the two runs: the test set changed between them`,
      counts,
    );
  }
  if (labels.length === 0) {
    return notComparable("the two runs share no test image (paired by path)", counts);
  }
  let classCount = 0;
  for (const v of [...labels, ...candidate, ...baseline]) classCount = Math.max(classCount, v + 1);
  const boot = pairedBootstrapF1Difference({
    labels,
    candidate,
    baseline,
    classCount,
    alpha: level,
    resamples: PROMOTION_BOOTSTRAP_RESAMPLES,
    seed: PROMOTION_BOOTSTRAP_SEED,
  });
  let candidateOnly = 0;
  let productionOnly = 0;
  for (let i = 0; i < labels.length; i++) {
    const a = candidate[i] === labels[i];
    const b = baseline[i] === labels[i];
    if (a && !b) candidateOnly++;
    else if (b && !a) productionOnly++;
  }
  const test = mcnemar(candidateOnly, productionOnly);
  const better = boot.low > 0 && test.pExact < level && candidateOnly > productionOnly;
  return {
    ...base,
    ...counts,
    status: "compared",
    pairedImages: labels.length,
    candidateF1: boot.candidateF1,
    productionF1: boot.baselineF1,
    deltaF1: boot.delta,
    ciLow: boot.low,
    ciHigh: boot.high,
    resamples: boot.resamples,
    mcnemar: test,
    better,
    requiresOverride: !better,
  };
}

/** One line with the numbers, for error messages and the audit trail. */
export function describeComparison(c: PromotionComparison): string {
  if (c.status !== "compared") return c.reason ?? c.status;
  const pct = Math.round((1 - c.level) * 1000) / 10;
  const f = (v: number | null) => (v === null ? "n/a" : v.toFixed(4));
  return (
    `weighted F1 ${f(c.candidateF1)} vs production ${f(c.productionF1)}: delta ${f(c.deltaF1)} ` +
    `(${pct}% CI ${f(c.ciLow)} .. ${f(c.ciHigh)}), McNemar exact p = ${c.mcnemar?.pExact.toPrecision(3)} ` +
    `(${c.mcnemar?.candidateOnly} vs ${c.mcnemar?.baselineOnly} discordant), ${c.pairedImages} paired test images, level ${c.level}`
  );
}
