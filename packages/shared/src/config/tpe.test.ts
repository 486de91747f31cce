import { describe, expect, it } from "vitest";
import { createRng } from "../prng";
import { type Distribution, samplePoints } from "./searchSpace";
import { type Observation, proposeTpe } from "./tpe";

type Objective = (p: Record<string, unknown>) => number;

/** Minimises `f` with TPE: `startup` random points, then one proposal per finished trial. */
function runTpe(
  axes: [string, Distribution][],
  f: Objective,
  budget: number,
  seed: number,
  startup = 8,
): number {
  const observations: Observation[] = samplePoints(axes, startup, createRng(seed)).map((point) => ({
    point,
    score: -f(point),
    pruned: false,
  }));
  for (let trial = startup; trial < budget; trial++) {
    const point = proposeTpe({ axes, observations, seed, trial, taken: observations.map((o) => o.point) });
    observations.push({ point, score: -f(point), pruned: false });
  }
  return Math.min(...observations.map((o) => -o.score));
}

function runRandom(axes: [string, Distribution][], f: Objective, budget: number, seed: number): number {
  return Math.min(...samplePoints(axes, budget, createRng(seed + 1000)).map(f));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const SEEDS = [1, 2, 3, 4, 5, 6];

describe("proposeTpe", () => {
  it("finds the bottom of a quadratic bowl, closer than random search with the same budget", () => {
    const axes: [string, Distribution][] = [
      ["x", { uniform: [-5, 5] }],
      ["y", { uniform: [-5, 5] }],
    ];
    const bowl: Objective = (p) => ((p.x as number) - 1.3) ** 2 + ((p.y as number) + 2.1) ** 2;
    const tpe = SEEDS.map((s) => runTpe(axes, bowl, 60, s));
    const random = SEEDS.map((s) => runRandom(axes, bowl, 60, s));
    // The minimum is 0 at (1.3, -2.1).
    expect(Math.max(...tpe)).toBeLessThan(0.1);
    expect(mean(tpe)).toBeLessThan(mean(random) / 3);
  });

  it("gets within 0.1 of Branin's global minimum (0.397887) in 80 trials, better than random search", () => {
    const axes: [string, Distribution][] = [
      ["x1", { uniform: [-5, 10] }],
      ["x2", { uniform: [0, 15] }],
    ];
    const branin: Objective = (p) => {
      const x1 = p.x1 as number;
      const x2 = p.x2 as number;
      const b = 5.1 / (4 * Math.PI ** 2);
      const c = 5 / Math.PI;
      return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * Math.PI)) * Math.cos(x1) + 10;
    };
    const tpe = SEEDS.map((s) => runTpe(axes, branin, 80, s));
    const random = SEEDS.map((s) => runRandom(axes, branin, 80, s));
    expect(mean(tpe)).toBeLessThan(0.397887 + 0.1);
    expect(mean(tpe)).toBeLessThan(mean(random));
  });

  it("searches a log-scaled learning rate and a categorical batch size towards their optimum", () => {
    const axes: [string, Distribution][] = [
      ["lr", { loguniform: [1e-5, 1] }],
      ["batch", { choice: [8, 16, 32, 64] }],
      ["layers", { int: [1, 12] }],
    ];
    // Best at lr 3e-3, batch 32, 7 layers.
    const f: Objective = (p) =>
      (Math.log10(p.lr as number) - Math.log10(3e-3)) ** 2 +
      (p.batch === 32 ? 0 : 1) +
      0.1 * ((p.layers as number) - 7) ** 2;
    const tpe = SEEDS.map((s) => runTpe(axes, f, 50, s));
    const random = SEEDS.map((s) => runRandom(axes, f, 50, s));
    expect(mean(tpe)).toBeLessThan(0.15);
    expect(mean(tpe)).toBeLessThan(mean(random));
  });

  it("is repeatable, never proposes a point already taken, and steers away from pruned trials", () => {
    const axes: [string, Distribution][] = [["x", { uniform: [0, 10] }]];
    // Completed trials near 8 score well; pruned trials near 2 scored high before they were stopped.
    const observations: Observation[] = [
      { point: { x: 8 }, score: 0.9, pruned: false },
      { point: { x: 7.5 }, score: 0.8, pruned: false },
      { point: { x: 2 }, score: 0.95, pruned: true },
      { point: { x: 2.5 }, score: 0.99, pruned: true },
      { point: { x: 5 }, score: 0.2, pruned: false },
      { point: { x: 1.5 }, score: 0.97, pruned: true },
      { point: { x: 9 }, score: 0.1, pruned: false },
      { point: { x: 0.5 }, score: 0.96, pruned: true },
    ];
    const input = { axes, observations, seed: 3, trial: 8, taken: observations.map((o) => o.point) };
    const a = proposeTpe(input);
    expect(proposeTpe(input)).toEqual(a);
    const proposals = Array.from(
      { length: 20 },
      (_, i) => proposeTpe({ ...input, trial: 8 + i }).x as number,
    );
    expect(mean(proposals)).toBeGreaterThan(5.5);
    const discrete: [string, Distribution][] = [["b", { choice: [1, 2] }]];
    const taken = [{ b: 1 }];
    const next = proposeTpe({
      axes: discrete,
      observations: [{ point: { b: 1 }, score: 1, pruned: false }],
      seed: 1,
      trial: 1,
      taken,
    });
    expect(next).toEqual({ b: 2 });
  });
});
