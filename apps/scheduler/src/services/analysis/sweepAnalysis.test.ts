import { describe, expect, it } from "vitest";
import { groupAxis, varianceExplained } from "./sweepAnalysis";

// Six runs' test F1; the groupings below are the seeded sweep's (model.arch = i % 3, weighting = i % 2).
const F1 = [0.6, 0.7, 0.9, 0.62, 0.68, 0.88];

describe("varianceExplained", () => {
  it("gives eta squared and epsilon squared as computed by hand", () => {
    // Grand mean 0.73; SS_total = 0.0169 + 0.0009 + 0.0289 + 0.0121 + 0.0025 + 0.0225 = 0.0838.
    // By i % 3: means 0.61, 0.69, 0.89; SS_between = 2 (0.0144 + 0.0016 + 0.0256) = 0.0832,
    // SS_within = 0.0006, epsilon2 = (0.0832 - 2 * 0.0006 / 3) / 0.0838 = 0.0828 / 0.0838.
    const arch = varianceExplained(F1, [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    expect(arch.eta2).toBeCloseTo(0.0832 / 0.0838, 12);
    expect(arch.epsilon2).toBeCloseTo(0.0828 / 0.0838, 12);

    // By i % 2: means 2.18 / 3 and 2.2 / 3 around 0.73; SS_between = 6 (1/300)^2 = 1/15000. The
    // within-level variance is far larger, so epsilon2 is clamped to 0.
    const weighting = varianceExplained(F1, [
      [0, 2, 4],
      [1, 3, 5],
    ]);
    expect(weighting.eta2).toBeCloseTo(1 / 15000 / 0.0838, 12);
    expect(weighting.epsilon2).toBe(0);

    // By i % 5 (five levels for six runs): eta2 is large by construction, epsilon2 corrects it.
    // Means 0.74, 0.7, 0.9, 0.62, 0.68; SS_between = 2 (0.01)^2 + 0.03^2 + 0.17^2 + 0.11^2 + 0.05^2 = 0.0446.
    const seed = varianceExplained(F1, [[0, 5], [1], [2], [3], [4]]);
    expect(seed.eta2).toBeCloseTo(0.0446 / 0.0838, 12);
    expect(seed.epsilon2).toBe(0);
  });

  it("is 0 when every run scored the same, and leaves epsilon2 undefined when every run is its own level", () => {
    expect(varianceExplained([0.8, 0.8, 0.8], [[0, 1], [2]])).toEqual({ eta2: 0, epsilon2: 0 });
    const own = varianceExplained([0.5, 0.7], [[0], [1]]);
    expect(own.eta2).toBeCloseTo(1, 12);
    expect(own.epsilon2).toBeNull();
  });
});

describe("groupAxis", () => {
  it("keeps up to six values as levels, numbers in numeric order", () => {
    const g = groupAxis([10, 9, 10, 100]);
    expect(g).toMatchObject({ kind: "numeric", binned: false });
    expect(g.groups.map((x) => [x.value, x.idx])).toEqual([
      [9, [1]],
      [10, [0, 2]],
      [100, [3]],
    ]);
    const c = groupAxis(["none", "balanced", null]);
    expect(c.kind).toBe("categorical");
    expect(c.groups.map((x) => x.value)).toEqual(["balanced", "none", null]);
  });

  it("bins a numeric axis with more than six values into rank quartiles; equal values share a bin", () => {
    // Ten runs: a value's bin is floor(4 * (runs with a smaller value) / 10):
    // 1 (0 below) -> 0; 2 (3) -> 1; 3 (4) -> 1; 4 (5) -> 2; 5 (6) -> 2; 6 (7) -> 2; 7 (8) -> 3; 8 (9) -> 3.
    const values = [1, 1, 1, 2, 3, 4, 5, 6, 7, 8];
    const g = groupAxis(values);
    expect(g).toMatchObject({ kind: "numeric", binned: true });
    expect(g.groups.map((x) => [x.value, x.bin, x.idx])).toEqual([
      ["1", { min: 1, max: 1 }, [0, 1, 2]],
      ["2–3", { min: 2, max: 3 }, [3, 4]],
      ["4–6", { min: 4, max: 6 }, [5, 6, 7]],
      ["7–8", { min: 7, max: 8 }, [8, 9]],
    ]);
    // Bounds print with three significant digits.
    const lr = groupAxis([0.000123456, 0.0002, 0.0003, 0.0004, 0.0005, 0.0006, 0.0007, 0.00081234]);
    expect(lr.groups.map((x) => x.value)).toEqual([
      "0.000123–0.0002",
      "0.0003–0.0004",
      "0.0005–0.0006",
      "0.0007–0.000812",
    ]);
  });
});
