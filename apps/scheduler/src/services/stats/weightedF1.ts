/**
 * Weighted F1 as scikit-learn defines it (`f1_score(average="weighted")`): each class's F1 weighted
 * by its support among the true labels; a class whose F1 is undefined (no true and no predicted
 * item) counts as 0, and classes absent from the true labels weigh nothing.
 */
export function weightedF1(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classCount: number,
): number {
  if (labels.length !== predicted.length) {
    throw new Error(`weightedF1: ${labels.length} labels but ${predicted.length} predictions`);
  }
  const counts = new Float64Array(classCount * 3);
  for (let i = 0; i < labels.length; i++) addItem(counts, labels[i]!, predicted[i]!);
  return weightedF1FromCounts(counts, classCount, labels.length);
}

/** counts[3c] = true positives, counts[3c+1] = predicted as c, counts[3c+2] = support of c. */
export function addItem(counts: Float64Array, label: number, predicted: number, times = 1): void {
  if (label === predicted) counts[3 * label] = counts[3 * label]! + times;
  counts[3 * predicted + 1] = counts[3 * predicted + 1]! + times;
  counts[3 * label + 2] = counts[3 * label + 2]! + times;
}

export function weightedF1FromCounts(counts: Float64Array, classCount: number, n: number): number {
  if (n === 0) return 0;
  let sum = 0;
  for (let c = 0; c < classCount; c++) {
    const tp = counts[3 * c]!;
    const predictedAs = counts[3 * c + 1]!;
    const support = counts[3 * c + 2]!;
    // 2tp / (2tp + fp + fn) = 2tp / (predicted + support)
    const denominator = predictedAs + support;
    if (support > 0 && denominator > 0) sum += (support * 2 * tp) / denominator;
  }
  return sum / n;
}
