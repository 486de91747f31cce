import { describe, expect, it } from "vitest";
import { niceTicks } from "./niceTicks";

describe("niceTicks", () => {
  it("picks round steps that cover the range", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(1, 30, 6)).toEqual([5, 10, 15, 20, 25, 30]);
    expect(niceTicks(0.45, 1.05, 5)).toEqual([0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(niceTicks(0.0003, 0.003, 5)).toEqual([0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003]);
  });

  it("returns one tick for an empty range and none for non-finite bounds", () => {
    expect(niceTicks(2, 2)).toEqual([2]);
    expect(niceTicks(Number.NaN, 1)).toEqual([]);
  });
});
