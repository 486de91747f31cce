import { mulberry32 } from "@xnn/shared";
import { quantileSorted } from "./percentile";
import { addItem, weightedF1, weightedF1FromCounts } from "./weightedF1";

export interface PairedBootstrapInput {
  /** True class of each test item. */
  labels: ArrayLike<number>;
  /** Candidate's predicted class of each item (same order). */
  candidate: ArrayLike<number>;
  /** Baseline's predicted class of each item (same order). */
  baseline: ArrayLike<number>;
  classCount: number;
  /** Two-sided interval level is 1 - alpha (0.05 gives a 95% interval). */
  alpha: number;
  resamples: number;
  seed: number;
}

export interface PairedBootstrapResult {
  /** Weighted F1 of the candidate minus the baseline's, on all items. */
  delta: number;
  candidateF1: number;
  baselineF1: number;
  /** Percentile interval of the resampled differences at level 1 - alpha. */
  low: number;
  high: number;
  resamples: number;
}

/**
 * Paired percentile bootstrap of the weighted-F1 difference: each resample draws n items with
 * replacement and scores both models on the same draw, so what the two models share (easy and hard
 * images) cancels out. The interval is SciPy's `bootstrap(..., paired=True, method="percentile")`:
 * the alpha/2 and 1 - alpha/2 quantiles of the resampled differences, NumPy's linear interpolation.
 */
export function pairedBootstrapF1Difference(input: PairedBootstrapInput): PairedBootstrapResult {
  const { labels, candidate, baseline, classCount, alpha, resamples } = input;
  const n = labels.length;
  if (candidate.length !== n || baseline.length !== n) {
    throw new Error(`pairedBootstrap: ${n} labels, ${candidate.length} and ${baseline.length} predictions`);
  }
  if (n === 0) throw new Error("pairedBootstrap: no paired items to compare");
  if (!(alpha > 0 && alpha < 1))
    throw new Error(`pairedBootstrap: alpha must be within (0, 1), got ${alpha}`);
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new Error(`pairedBootstrap: resamples must be a positive integer, got ${resamples}`);
  }
  const random = mulberry32(input.seed);
  const candidateF1 = weightedF1(labels, candidate, classCount);
  const baselineF1 = weightedF1(labels, baseline, classCount);
  const differences = new Float64Array(resamples);
  const a = new Float64Array(classCount * 3);
  const b = new Float64Array(classCount * 3);
  for (let r = 0; r < resamples; r++) {
    a.fill(0);
    b.fill(0);
    for (let k = 0; k < n; k++) {
      const i = Math.floor(random() * n);
      addItem(a, labels[i]!, candidate[i]!);
      addItem(b, labels[i]!, baseline[i]!);
    }
    differences[r] = weightedF1FromCounts(a, classCount, n) - weightedF1FromCounts(b, classCount, n);
  }
  differences.sort();
  return {
    delta: candidateF1 - baselineF1,
    candidateF1,
    baselineF1,
    low: quantileSorted(differences, alpha / 2),
    high: quantileSorted(differences, 1 - alpha / 2),
    resamples,
  };
}
