import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mulberry32 } from "@xnn/shared";
import { describe, expect, it } from "vitest";
import { binomialCdfHalf, erfc, mcnemar } from "./mcnemar";
import { pairedBootstrapF1Difference } from "./pairedBootstrap";
import { quantileSorted } from "./percentile";
import { weightedF1 } from "./weightedF1";

const PYTHON = "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./scipyReference.py", import.meta.url));

interface Reference {
  binomtest: number[];
  chi2sf: number[];
  mcnemarCorrected: number[];
  percentile: number[];
  weightedF1: number[];
  bootstrap: { delta: number; low: number; high: number; standardError: number };
}

/** Runs the committed SciPy script on the test's fixed inputs; without SciPy the test fails, saying how to get it. */
function scipyReference(spec: unknown): Reference {
  const run = spawnSync(PYTHON, [SCRIPT], {
    input: JSON.stringify(spec),
    encoding: "utf8",
    timeout: 120_000,
  });
  if (run.error || run.status !== 0) {
    throw new Error(
      `the SciPy reference (${SCRIPT}) did not run: ${run.error?.message ?? run.stderr.trim()}\n` +
        "install it with: apt-get update && apt-get install -y python3-scipy",
    );
  }
  return JSON.parse(run.stdout) as Reference;
}

/** A fixed 3-class test set: the baseline is right 70% of the time, the candidate 80%, partly on the same items. */
function fixedPredictions(n: number, seed: number) {
  const random = mulberry32(seed);
  const labels: number[] = [];
  const candidate: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = Math.floor(random() * 3);
    const shared = random();
    labels.push(y);
    candidate.push(shared < 0.8 ? y : (y + 1 + Math.floor(random() * 2)) % 3);
    baseline.push(shared < 0.7 || random() < 0.1 ? y : (y + 1) % 3);
  }
  return { labels, candidate, baseline };
}

const discordant: [number, number][] = [
  [0, 0],
  [0, 1],
  [1, 0],
  [3, 3],
  [5, 1],
  [2, 9],
  [12, 30],
  [40, 41],
  [250, 200],
  [1500, 1620],
  [9000, 8700],
];
const chi2 = [0, 1e-6, 0.5, 1, 3.841458820694124, 6.5, 8.1, 12, 30, 80, 250];
const values = Array.from({ length: 37 }, (_, i) => Math.sin(i * 1.7) * 3 + i / 10).sort((a, b) => a - b);
const quantiles = [0, 0.025, 0.05, 0.31, 0.5, 0.975, 1];
const fixed = fixedPredictions(500, 9);
const f1Cases = [
  { labels: [0, 0, 1, 1, 2, 2], predicted: [0, 1, 1, 1, 0, 2], classCount: 3 },
  // Class 2 is never true, class 3 never predicted nor true: sklearn's zero-division rules.
  { labels: [0, 1, 1, 0, 1], predicted: [2, 1, 0, 0, 2], classCount: 4 },
  { labels: fixed.labels, predicted: fixed.candidate, classCount: 3 },
];
const boot = { ...fixedPredictions(300, 7), classCount: 3, alpha: 0.05, resamples: 10_000 };

const reference = scipyReference({ discordant, chi2, values, quantiles, f1Cases, bootstrap: boot });

describe("statistics against SciPy", () => {
  it("exact McNemar matches scipy.stats.binomtest(b, b + c, 0.5) two-sided", () => {
    discordant.forEach(([b, c], i) => {
      const ours = mcnemar(b, c).pExact;
      expect(Math.abs(ours - reference.binomtest[i]!)).toBeLessThanOrEqual(
        1e-12 + 1e-9 * reference.binomtest[i]!,
      );
    });
  });

  it("the continuity-corrected McNemar p-value matches scipy.stats.chi2.sf((|b - c| - 1)^2 / (b + c), 1)", () => {
    chi2.forEach((x, i) => {
      const ref = reference.chi2sf[i]!;
      expect(Math.abs(erfc(Math.sqrt(x / 2)) - ref)).toBeLessThanOrEqual(1e-13 + 1e-10 * ref);
    });
    discordant.forEach(([b, c], i) => {
      const ref = reference.mcnemarCorrected[i]!;
      expect(Math.abs(mcnemar(b, c).pCorrected - ref)).toBeLessThanOrEqual(1e-13 + 1e-10 * ref);
    });
  });

  it("quantiles interpolate as numpy.percentile does", () => {
    quantiles.forEach((q, i) => {
      expect(quantileSorted(values, q)).toBeCloseTo(reference.percentile[i]!, 12);
    });
  });

  it("weighted F1 matches sklearn's definition, computed by hand in NumPy", () => {
    f1Cases.forEach((c, i) => {
      expect(weightedF1(c.labels, c.predicted, c.classCount)).toBeCloseTo(reference.weightedF1[i]!, 12);
    });
  });

  it("the paired bootstrap interval agrees with scipy.stats.bootstrap(paired=True, method='percentile')", () => {
    const ours = pairedBootstrapF1Difference({ ...boot, seed: 1 });
    expect(ours.delta).toBeCloseTo(reference.bootstrap.delta, 12);
    // Both are Monte Carlo estimates from different generators: they agree to a few standard
    // errors of a 2.5% quantile over 10,000 resamples (about 0.001 here), not to the last digit.
    expect(Math.abs(ours.low - reference.bootstrap.low)).toBeLessThan(0.006);
    expect(Math.abs(ours.high - reference.bootstrap.high)).toBeLessThan(0.006);
    expect(ours.low).toBeLessThan(ours.delta);
    expect(ours.high).toBeGreaterThan(ours.delta);
  });
});

describe("statistics", () => {
  it("the bootstrap is reproducible for a seed and differs across seeds", () => {
    const a = pairedBootstrapF1Difference({ ...boot, resamples: 500, seed: 3 });
    const b = pairedBootstrapF1Difference({ ...boot, resamples: 500, seed: 3 });
    const c = pairedBootstrapF1Difference({ ...boot, resamples: 500, seed: 4 });
    expect(a).toEqual(b);
    expect(c.low).not.toBe(a.low);
  });

  it("identical predictions give a zero difference, a zero-width interval and p = 1", () => {
    const { labels, baseline } = fixedPredictions(100, 5);
    const r = pairedBootstrapF1Difference({
      labels,
      candidate: baseline,
      baseline,
      classCount: 3,
      alpha: 0.05,
      resamples: 200,
      seed: 1,
    });
    expect([r.delta, r.low, r.high]).toEqual([0, 0, 0]);
    expect(mcnemar(0, 0)).toMatchObject({ pExact: 1, pCorrected: 1 });
  });

  it("the binomial tail stays finite and exact for large n", () => {
    expect(binomialCdfHalf(5, 10)).toBeCloseTo(638 / 1024, 14);
    expect(binomialCdfHalf(50_000, 100_000)).toBeGreaterThan(0.5);
    expect(binomialCdfHalf(0, 1000)).toBeCloseTo(2 ** -1000, 310);
    expect(binomialCdfHalf(900, 1000)).toBe(1);
  });

  it("bad input is refused with a message naming it", () => {
    expect(() => mcnemar(-1, 2)).toThrow(/candidateOnly must be a count/);
    expect(() => weightedF1([0, 1], [0], 2)).toThrow(/2 labels but 1 predictions/);
    expect(() =>
      pairedBootstrapF1Difference({
        labels: [],
        candidate: [],
        baseline: [],
        classCount: 2,
        alpha: 0.05,
        resamples: 10,
        seed: 1,
      }),
    ).toThrow(/no paired items/);
    expect(() => pairedBootstrapF1Difference({ ...boot, alpha: 1.5, seed: 1 })).toThrow(/alpha/);
  });
});
