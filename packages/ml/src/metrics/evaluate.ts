import type { ClassMetrics, EvaluationRecord } from "@xnn/shared/records";
import {
  accuracy,
  averagePrecisionFromCurve,
  confusionMatrix,
  oneVsRest,
  type PrCurve,
  precisionRecallCurve,
  precisionRecallF1Support,
  ravelMicro,
} from "./classification.js";

/** One class's figures; the record is defined in packages/shared (it is stored and served). */
export type ClassEvaluation = ClassMetrics;
/** Everything one evaluated split produces; defined in packages/shared (it is stored and served). */
export type Evaluation = EvaluationRecord;

/** First index of the maximum, like numpy.argmax, so tied probabilities resolve as in the study. */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
}

/**
 * Everything the results database stores for one evaluated split. `probs` are softmax outputs; the
 * prediction is their argmax.
 */
export function evaluateClassifier(
  labels: ArrayLike<number>,
  probs: readonly ArrayLike<number>[],
  classNames: readonly string[],
): Evaluation {
  const k = classNames.length;
  if (k < 2) throw new RangeError("evaluateClassifier needs at least 2 classes");
  if (new Set(classNames).size !== k || classNames.includes("micro")) {
    throw new RangeError(`class names must be unique and not "micro": ${classNames.join(", ")}`);
  }
  if (labels.length !== probs.length)
    throw new RangeError(`${labels.length} labels but ${probs.length} probability rows`);
  if (labels.length === 0) throw new RangeError("evaluateClassifier needs at least one sample");
  const preds = probs.map((row, i) => {
    if (row.length !== k) throw new RangeError(`probs[${i}] has ${row.length} values, expected ${k}`);
    return argmax(row);
  });
  const { perClass, weighted } = precisionRecallF1Support(labels, preds, k);
  const cm = confusionMatrix(labels, preds, k);
  const curves: Record<string, PrCurve> = {};
  const out: Record<string, ClassEvaluation> = {};
  classNames.forEach((name, c) => {
    const curve = precisionRecallCurve(
      oneVsRest(labels, c),
      probs.map((row) => row[c] as number),
    );
    curves[name] = curve;
    out[name] = {
      precision: perClass.precision[c] as number,
      recall: perClass.recall[c] as number,
      f1: perClass.f1[c] as number,
      support: perClass.support[c] as number,
      ap: averagePrecisionFromCurve(curve),
      tp: cm.tp[c] as number,
      fp: cm.fp[c] as number,
      fn: cm.fn[c] as number,
    };
  });
  const micro = ravelMicro(labels, probs, k);
  const microCurve = precisionRecallCurve(micro.y, micro.s);
  curves.micro = microCurve;
  return {
    n: labels.length,
    classNames: [...classNames],
    accuracy: accuracy(labels, preds),
    precision: weighted.precision,
    recall: weighted.recall,
    f1: weighted.f1,
    perClass: out,
    microAp: averagePrecisionFromCurve(microCurve),
    confusion: cm.matrix,
    curves,
  };
}
