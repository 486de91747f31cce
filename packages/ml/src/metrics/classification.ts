/**
 * Classification metrics with scikit-learn's definitions (1.2), so numbers stored by this project
 * can be compared one-to-one with the original PyTorch-Lightning study's sklearn reports.
 * Arithmetic is float64 throughout, in the same order as sklearn, so fixtures match to ~1e-15.
 */
import type { PrCurveRecord } from "@xnn/shared/records";

export interface PerClassScores {
  precision: number[];
  recall: number[];
  f1: number[];
  support: number[];
}

export interface AveragedScores {
  precision: number;
  recall: number;
  f1: number;
  /** Total number of true samples (sklearn returns None for support of an average; we keep the count). */
  support: number;
}

export interface ConfusionResult {
  /** matrix[true][predicted]. */
  matrix: number[][];
  tp: number[];
  fp: number[];
  fn: number[];
}

function checkLabels(labels: ArrayLike<number>, nClasses: number, what: string): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i] as number;
    if (!Number.isInteger(v) || v < 0 || v >= nClasses) {
      throw new RangeError(`${what}[${i}] = ${v} is not a class index in [0, ${nClasses})`);
    }
  }
}

export function confusionMatrix(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  nClasses: number,
): ConfusionResult {
  if (yTrue.length !== yPred.length) {
    throw new RangeError(`yTrue has ${yTrue.length} labels but yPred has ${yPred.length}`);
  }
  checkLabels(yTrue, nClasses, "yTrue");
  checkLabels(yPred, nClasses, "yPred");
  const matrix = Array.from({ length: nClasses }, () => new Array<number>(nClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const row = matrix[yTrue[i] as number] as number[];
    row[yPred[i] as number] = (row[yPred[i] as number] as number) + 1;
  }
  const tp: number[] = [];
  const fp: number[] = [];
  const fn: number[] = [];
  for (let c = 0; c < nClasses; c++) {
    const diag = (matrix[c] as number[])[c] as number;
    let colSum = 0;
    let rowSum = 0;
    for (let k = 0; k < nClasses; k++) {
      colSum += (matrix[k] as number[])[c] as number;
      rowSum += (matrix[c] as number[])[k] as number;
    }
    tp.push(diag);
    fp.push(colSum - diag);
    fn.push(rowSum - diag);
  }
  return { matrix, tp, fp, fn };
}

export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  if (yTrue.length !== yPred.length) throw new RangeError("yTrue and yPred differ in length");
  if (yTrue.length === 0) return 0;
  let ok = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) ok++;
  return ok / yTrue.length;
}

/** sklearn's _prf_divide with zero_division=0: a 0/0 ratio is 0 (sklearn also warns). */
function safeDiv(num: number, den: number): number {
  return den === 0 ? 0 : num / den;
}

/**
 * precision_recall_fscore_support(labels=range(nClasses), zero_division=0), per class and weighted
 * by support. Classes absent from both yTrue and yPred are still reported (support 0, scores 0).
 */
export function precisionRecallF1Support(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  nClasses: number,
): { perClass: PerClassScores; weighted: AveragedScores } {
  const { tp, fp, fn } = confusionMatrix(yTrue, yPred, nClasses);
  const precision: number[] = [];
  const recall: number[] = [];
  const f1: number[] = [];
  const support: number[] = [];
  for (let c = 0; c < nClasses; c++) {
    const t = tp[c] as number;
    const p = safeDiv(t, t + (fp[c] as number));
    const r = safeDiv(t, t + (fn[c] as number));
    // sklearn 1.2: denom = beta^2 * P + R, zeros replaced by 1, F = (1 + beta^2) * P * R / denom.
    const denom = p + r;
    f1.push((2 * p * r) / (denom === 0 ? 1 : denom));
    precision.push(p);
    recall.push(r);
    support.push(t + (fn[c] as number));
  }
  const total = support.reduce((a, b) => a + b, 0);
  // np.average(x, weights=support) = sum(x * w) / sum(w); sklearn returns 0 when there are no true samples.
  const wavg = (xs: number[]): number => {
    if (total === 0) return 0;
    let s = 0;
    for (let c = 0; c < nClasses; c++) s += (xs[c] as number) * (support[c] as number);
    return s / total;
  };
  return {
    perClass: { precision, recall, f1, support },
    weighted: { precision: wavg(precision), recall: wavg(recall), f1: wavg(f1), support: total },
  };
}

/** Decreasing-threshold order reversed, as sklearn returns: recall non-increasing, last point (P=1, R=0). */
export type PrCurve = PrCurveRecord;

/**
 * sklearn's _binary_clf_curve: cumulative TP/FP at each distinct score, scanning scores from high to
 * low. Within a run of tied scores only the run's end counts, so the order inside ties is irrelevant.
 */
function binaryClfCurve(
  yBinary: ArrayLike<number>,
  scores: ArrayLike<number>,
): { tps: number[]; fps: number[]; thr: number[] } {
  if (yBinary.length !== scores.length) throw new RangeError("yBinary and scores differ in length");
  const n = yBinary.length;
  if (n === 0) throw new RangeError("precision-recall curve needs at least one sample");
  for (let i = 0; i < n; i++) {
    const y = yBinary[i];
    if (y !== 0 && y !== 1) throw new RangeError(`yBinary[${i}] = ${y} is not 0 or 1`);
    if (!Number.isFinite(scores[i] as number)) throw new RangeError(`scores[${i}] is not finite`);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (scores[b] as number) - (scores[a] as number),
  );
  const tps: number[] = [];
  const fps: number[] = [];
  const thr: number[] = [];
  let tp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k] as number;
    tp += yBinary[i] as number;
    const next = order[k + 1];
    if (next === undefined || scores[next] !== scores[i]) {
      tps.push(tp);
      fps.push(k + 1 - tp);
      thr.push(scores[i] as number);
    }
  }
  return { tps, fps, thr };
}

/** sklearn 1.2 precision_recall_curve(y_true, probas_pred) for a binary problem (pos_label 1). */
export function precisionRecallCurve(yBinary: ArrayLike<number>, scores: ArrayLike<number>): PrCurve {
  const { tps, fps, thr } = binaryClfCurve(yBinary, scores);
  const m = tps.length;
  const totalPos = tps[m - 1] as number;
  const precision: number[] = [];
  const recall: number[] = [];
  const thresholds: number[] = [];
  for (let k = m - 1; k >= 0; k--) {
    const t = tps[k] as number;
    const ps = t + (fps[k] as number);
    precision.push(ps === 0 ? 0 : t / ps);
    // sklearn sets recall to 1 everywhere when there are no positives (and warns).
    recall.push(totalPos === 0 ? 1 : t / totalPos);
    thresholds.push(thr[k] as number);
  }
  precision.push(1);
  recall.push(0);
  return { precision, recall, thresholds };
}

/** average_precision_score: -sum(diff(recall) * precision[:-1]) over the curve above. */
export function averagePrecisionFromCurve(curve: PrCurve): number {
  let s = 0;
  for (let k = 0; k + 1 < curve.recall.length; k++) {
    s += ((curve.recall[k + 1] as number) - (curve.recall[k] as number)) * (curve.precision[k] as number);
  }
  // -0 would serialise as 0 anyway; normalise so equality checks against fixtures are plain.
  return s === 0 ? 0 : -s;
}

export function averagePrecision(yBinary: ArrayLike<number>, scores: ArrayLike<number>): number {
  return averagePrecisionFromCurve(precisionRecallCurve(yBinary, scores));
}

/** One-vs-rest binary labels for class c. */
export function oneVsRest(labels: ArrayLike<number>, c: number): number[] {
  return Array.from(labels as ArrayLike<number>, (y) => (y === c ? 1 : 0));
}

/** Micro-average inputs: one-hot labels and probabilities ravelled row-major, as sklearn's micro average does. */
export function ravelMicro(
  labels: ArrayLike<number>,
  probs: readonly ArrayLike<number>[],
  nClasses: number,
): { y: number[]; s: number[] } {
  const y: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const row = probs[i];
    if (!row || row.length !== nClasses) throw new RangeError(`probs[${i}] must have ${nClasses} values`);
    for (let c = 0; c < nClasses; c++) {
      y.push(labels[i] === c ? 1 : 0);
      s.push(row[c] as number);
    }
  }
  return { y, s };
}
