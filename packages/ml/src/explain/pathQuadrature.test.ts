import { describe, expect, it } from "vitest";
import { integratePath, type PathSample, type QuadratureRule } from "./pathQuadrature.js";

/** A path score f with its derivative, evaluated like the model would be, counting calls. */
function pathOf(f: (a: number) => number, df: (a: number) => number) {
  const asked: number[][] = [];
  const evaluate = async (alphas: number[]): Promise<PathSample[]> => {
    asked.push([...alphas]);
    return alphas.map((alpha) => ({ alpha, f: f(alpha), slope: df(alpha) }));
  };
  return { evaluate, asked };
}

/** A steep logistic step at c: the softmax switching class along the path. */
const step = (c: number, k: number) => ({
  f: (a: number) => 1 / (1 + Math.exp(-k * (a - c))),
  df: (a: number) => {
    const s = 1 / (1 + Math.exp(-k * (a - c)));
    return k * s * (1 - s);
  },
});

const plan = { tolerance: 0.05, chunk: 16, maxSteps: 1600 };

describe("integratePath", () => {
  it("with the budget equal to steps is the plain composite rule: uniform points, weights 1/2,1,..,1/2 or 1,4,2,..,4,1 over 3m", async () => {
    const { evaluate, asked } = pathOf(
      (a) => a * a,
      (a) => 2 * a,
    );
    const t = await integratePath(evaluate, {
      ...plan,
      steps: 8,
      maxSteps: 8,
      tolerance: 0,
      delta: 1,
      rule: "trapezoid",
    });
    expect(asked).toHaveLength(1);
    expect(t.points.map((p) => p.alpha)).toEqual(Array.from({ length: 9 }, (_, k) => k / 8));
    expect(Array.from(t.weights)).toEqual([1 / 16, 1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 16]);
    expect(t.intervals).toBe(8);
    const s = await integratePath(
      pathOf(
        (a) => a,
        () => 1,
      ).evaluate,
      {
        ...plan,
        steps: 4,
        maxSteps: 4,
        tolerance: 0,
        delta: 1,
        rule: "simpson",
      },
    );
    const want = [1, 4, 2, 4, 1].map((w) => w / 12);
    s.weights.forEach((w, k) => {
      expect(w).toBeCloseTo(want[k] as number, 15);
    });
  });

  it("Simpson integrates a cubic path score exactly where the trapezoid does not", async () => {
    const f = (a: number) => a ** 3 - 0.5 * a;
    const df = (a: number) => 3 * a * a - 0.5;
    const run = async (rule: QuadratureRule) => {
      const t = await integratePath(pathOf(f, df).evaluate, {
        ...plan,
        steps: 2,
        maxSteps: 2,
        tolerance: 0,
        delta: 0.5,
        rule,
      });
      return t.points.reduce((s, p, k) => s + (t.weights[k] as number) * p.slope, 0);
    };
    expect(await run("simpson")).toBeCloseTo(0.5, 14);
    expect(Math.abs((await run("trapezoid")) - 0.5)).toBeGreaterThan(0.1);
  });

  it("refines a sharp step to the tolerance, keeps every evaluated point, and never asks more than a chunk per round", async () => {
    const s = step(0.71, 200);
    for (const rule of ["trapezoid", "simpson"] as const) {
      const { evaluate, asked } = pathOf(s.f, s.df);
      const delta = s.f(1) - s.f(0);
      const t = await integratePath(evaluate, { ...plan, steps: 8, delta, chunk: 4, rule });
      const all = asked.flat().sort((p, q) => p - q);
      expect(t.points.map((p) => p.alpha)).toEqual(all);
      expect(new Set(all).size).toBe(all.length);
      expect(t.rounds).toBe(asked.length);
      for (const round of asked.slice(1)) expect(round.length).toBeLessThanOrEqual(4);
      expect(t.weights.reduce((a, w) => a + w, 0)).toBeCloseTo(1, 12);
      const integral = t.points.reduce((acc, p, k) => acc + (t.weights[k] as number) * p.slope, 0);
      expect(Math.abs(integral - delta) / delta).toBeLessThan(0.05);
      // Refinement went to the step: more points near 0.71 than in any other tenth of the path.
      const near = t.points.filter((p) => Math.abs(p.alpha - 0.71) < 0.05).length;
      expect(near).toBeGreaterThan(t.points.filter((p) => p.alpha < 0.1).length);
    }
  });

  it("stops at the interval budget, and counts it in intervals for both rules", async () => {
    const s = step(0.5, 2000);
    const { evaluate } = pathOf(s.f, s.df);
    const t = await integratePath(evaluate, {
      ...plan,
      steps: 4,
      maxSteps: 11,
      tolerance: 0,
      delta: 1,
      rule: "simpson",
    });
    // Simpson splits add two intervals each: 4 -> 10, one more would pass 11.
    expect(t.intervals).toBe(10);
    expect(t.points).toHaveLength(11);
    const odd = await integratePath(pathOf(s.f, s.df).evaluate, {
      ...plan,
      steps: 5,
      maxSteps: 5,
      delta: 1,
      rule: "simpson",
    });
    expect(odd.intervals).toBe(6);
  });
});
