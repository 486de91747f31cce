import { describe, expect, it } from "vitest";
import {
  curvePoints,
  DISPLAY_CURVE_POINTS,
  displayPointsPerCurve,
  MIN_DISPLAY_CURVE_POINTS,
  thinIndices,
} from "./runCurves";

describe("thinIndices", () => {
  it("keeps every index of a curve that already fits", () => {
    expect(thinIndices(0, 50)).toEqual([]);
    expect(thinIndices(1, 50)).toEqual([0]);
    expect(thinIndices(50, 50)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it("thins to exactly maxPoints distinct, increasing indices with both ends", () => {
    for (const [n, max] of [
      [51, 50],
      [200, 50],
      [201, 200],
      [2400, 83],
      [1000, 2],
    ] as const) {
      const idx = thinIndices(n, max);
      expect(idx).toHaveLength(max);
      expect(idx[0]).toBe(0);
      expect(idx.at(-1)).toBe(n - 1);
      for (let i = 1; i < idx.length; i++) expect(idx[i]!).toBeGreaterThan(idx[i - 1]!);
    }
  });

  it("spaces the kept indices evenly", () => {
    const idx = thinIndices(1001, 11);
    expect(idx).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });
});

describe("displayPointsPerCurve", () => {
  it("sends every stored point to small comparisons and shares a budget out in large ones", () => {
    expect(displayPointsPerCurve(0)).toBe(DISPLAY_CURVE_POINTS);
    expect(displayPointsPerCurve(1)).toBe(DISPLAY_CURVE_POINTS);
    expect(displayPointsPerCurve(50)).toBe(DISPLAY_CURVE_POINTS);
    expect(displayPointsPerCurve(100)).toBe(100);
    expect(displayPointsPerCurve(200)).toBe(MIN_DISPLAY_CURVE_POINTS);
    expect(displayPointsPerCurve(500)).toBe(MIN_DISPLAY_CURVE_POINTS);
  });

  it("never sends fewer points than the dashboard draws per line (30 at 200 runs, 20 at least)", () => {
    for (const runs of [1, 10, 30, 31, 60, 200, 300, 500]) {
      const drawn = Math.max(20, Math.min(200, Math.floor(6000 / runs)));
      expect(displayPointsPerCurve(runs)).toBeGreaterThanOrEqual(drawn);
    }
  });
});

describe("curvePoints", () => {
  it("turns stored columns into points, keeping both ends of the curve", () => {
    const n = 200;
    const recall = Array.from({ length: n }, (_, i) => 1 - i / (n - 1));
    const precision = recall.map((r) => 0.5 + r / 2);
    const points = curvePoints({ recall, precision }, 50);
    expect(points).toHaveLength(50);
    expect(points[0]).toEqual({ recall: 1, precision: 1 });
    expect(points.at(-1)).toEqual({ recall: 0, precision: 0.5 });
    for (const p of points) expect(p.precision).toBeCloseTo(0.5 + p.recall / 2, 12);
  });
});
