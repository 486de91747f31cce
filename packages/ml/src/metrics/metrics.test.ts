import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  accuracy,
  averagePrecision,
  confusionMatrix,
  precisionRecallCurve,
  precisionRecallF1Support,
} from "./classification.js";
import { evaluateClassifier } from "./evaluate.js";

// Produced by fixtures/make_fixtures.py with Debian's scikit-learn 1.2.
interface Curve {
  precision: number[];
  recall: number[];
  thresholds: number[];
}
interface Fixtures {
  sklearn: string;
  classifier: {
    name: string;
    labels: number[];
    probs: number[][];
    expected: {
      predictions: number[];
      accuracy: number;
      weighted: { precision: number; recall: number; f1: number };
      perClass: {
        precision: number;
        recall: number;
        f1: number;
        support: number;
        ap: number;
        curve: Curve;
      }[];
      microAp: number;
      microCurve: Curve;
      confusion: number[][];
      tp: number[];
      fp: number[];
      fn: number[];
    };
  }[];
  binary: { name: string; y: number[]; scores: number[]; expected: Curve & { ap: number } }[];
}

const fx = JSON.parse(
  readFileSync(new URL("./fixtures/sklearn_fixtures.json", import.meta.url), "utf8"),
) as Fixtures;
const TOL = 1e-9;

function close(actual: number, expected: number, what: string): void {
  if (!(Math.abs(actual - expected) <= TOL)) throw new Error(`${what}: got ${actual}, sklearn ${expected}`);
}
function closeArr(actual: readonly number[], expected: readonly number[], what: string): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  actual.forEach((a, i) => {
    close(a, expected[i] as number, `${what}[${i}]`);
  });
}
function closeCurve(actual: Curve, expected: Curve, what: string): void {
  closeArr(actual.precision, expected.precision, `${what}.precision`);
  closeArr(actual.recall, expected.recall, `${what}.recall`);
  closeArr(actual.thresholds, expected.thresholds, `${what}.thresholds`);
}

describe("metrics match scikit-learn fixtures to 1e-9", () => {
  it("fixtures come from sklearn 1.2 and cover the edge cases", () => {
    expect(fx.sklearn.startsWith("1.2")).toBe(true);
    const names = fx.classifier.map((c) => c.name);
    expect(names).toContain("ties_never_predicted");
    expect(names).toContain("class_without_positives");
  });

  for (const c of fx.classifier) {
    it(`classifier case ${c.name}`, () => {
      const k = c.probs[0]?.length ?? 0;
      const names = Array.from({ length: k }, (_, i) => `c${i}`);
      const ev = evaluateClassifier(c.labels, c.probs, names);
      const e = c.expected;
      close(ev.accuracy, e.accuracy, "accuracy");
      close(ev.precision, e.weighted.precision, "weighted precision");
      close(ev.recall, e.weighted.recall, "weighted recall");
      close(ev.f1, e.weighted.f1, "weighted f1");
      close(ev.microAp, e.microAp, "micro AP");
      closeCurve(ev.curves.micro as Curve, e.microCurve, "micro curve");
      expect(ev.confusion).toEqual(e.confusion);
      names.forEach((n, i) => {
        const got = ev.perClass[n];
        const want = e.perClass[i];
        if (!got || !want) throw new Error(`missing class ${n}`);
        close(got.precision, want.precision, `${n} precision`);
        close(got.recall, want.recall, `${n} recall`);
        close(got.f1, want.f1, `${n} f1`);
        expect(got.support).toBe(want.support);
        close(got.ap, want.ap, `${n} AP`);
        expect([got.tp, got.fp, got.fn]).toEqual([e.tp[i], e.fp[i], e.fn[i]]);
        closeCurve(ev.curves[n] as Curve, want.curve, `${n} curve`);
      });
      const preds = c.probs.map((row) => row.indexOf(Math.max(...row)));
      expect(preds).toEqual(e.predictions);
      const prf = precisionRecallF1Support(c.labels, preds, k);
      close(prf.weighted.f1, e.weighted.f1, "prf weighted f1");
      close(accuracy(c.labels, preds), e.accuracy, "accuracy()");
    });
  }

  for (const b of fx.binary) {
    it(`binary curve ${b.name}`, () => {
      closeCurve(precisionRecallCurve(b.y, b.scores), b.expected, b.name);
      close(averagePrecision(b.y, b.scores), b.expected.ap, `${b.name} AP`);
    });
  }
});

describe("metric edge cases", () => {
  it("a class never predicted gets precision 0 (zero_division=0), not NaN", () => {
    const r = precisionRecallF1Support([0, 1, 2], [0, 1, 1], 3);
    expect(r.perClass.precision[2]).toBe(0);
    expect(r.perClass.f1[2]).toBe(0);
    expect(Number.isNaN(r.weighted.f1)).toBe(false);
  });

  it("confusion matrix rows are true labels", () => {
    const cm = confusionMatrix([0, 0, 1], [1, 1, 1], 2);
    expect(cm.matrix).toEqual([
      [0, 2],
      [0, 1],
    ]);
    expect(cm.fp).toEqual([0, 2]);
    expect(cm.fn).toEqual([2, 0]);
  });

  it("rejects malformed input", () => {
    expect(() => confusionMatrix([0, 3], [0, 1], 3)).toThrow(/class index/);
    expect(() => evaluateClassifier([0], [[0.5, 0.5, 0]], ["a", "b"])).toThrow(/expected 2/);
    expect(() => precisionRecallCurve([0, 2], [0.1, 0.2])).toThrow(/not 0 or 1/);
  });
});
