import { describe, expect, it } from "vitest";
import { downsample } from "./downsample";

describe("downsample", () => {
  it("keeps short series as they are", () => {
    expect(downsample([1, 2, 3], 5)).toEqual([1, 2, 3]);
  });

  it("keeps at most max points, evenly spaced, with the first and the last", () => {
    const points = Array.from({ length: 1001 }, (_, i) => i);
    const out = downsample(points, 11);
    expect(out).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });
});
