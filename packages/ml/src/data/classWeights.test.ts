import { describe, expect, it } from "vitest";
import { computeClassWeights, toClassWeightMap } from "./classWeights.js";

describe("computeClassWeights", () => {
  it("balanced = n_samples / (n_classes * count_c), as scikit-learn", () => {
    // sklearn.utils.class_weight.compute_class_weight("balanced") on 285/162/153 samples.
    const w = computeClassWeights([285, 162, 153], "balanced");
    expect(w[0]).toBeCloseTo(600 / (3 * 285), 12);
    expect(w[1]).toBeCloseTo(600 / (3 * 162), 12);
    expect(w[2]).toBeCloseTo(600 / (3 * 153), 12);
    // Weighted counts are equal across classes: the defining property.
    expect(w.map((x, i) => x * ([285, 162, 153][i] as number))).toEqual(
      [200, 200, 200].map((v) => expect.closeTo(v, 9)),
    );
  });

  it("accepts a {class: count} map in code-point order or a given class order", () => {
    const counts = { virus: 10, bacteria: 30, normal: 20 };
    expect(computeClassWeights(counts, "balanced")).toEqual([60 / 90, 60 / 60, 60 / 30]);
    expect(computeClassWeights(counts, "balanced", ["virus", "normal", "bacteria"])).toEqual([2, 1, 60 / 90]);
  });

  it("supports explicit lists, maps and none, and rejects bad input", () => {
    expect(computeClassWeights([1, 2, 3], [0.5, 1, 2])).toEqual([0.5, 1, 2]);
    expect(computeClassWeights({ a: 1, b: 2 }, { b: 3, a: 1 })).toEqual([1, 3]);
    expect(computeClassWeights([5, 5], "none")).toEqual([1, 1]);
    expect(() => computeClassWeights([1, 2, 3], [1, 2])).toThrow(/expected 3/);
    expect(() => computeClassWeights([1, 0, 3], "balanced")).toThrow(/0 samples/);
    expect(() => computeClassWeights({ a: 1 }, { a: 1, z: 2 })).toThrow(/unknown classes: z/);
    expect(() => computeClassWeights([1, 2], [1, -1])).toThrow(/Invalid class weight/);
    expect(toClassWeightMap([0.5, 2])).toEqual({ 0: 0.5, 1: 2 });
  });
});
