import { describe, expect, it } from "vitest";
import { createRng, mixSeed, shuffleInPlace } from "./prng";

describe("prng", () => {
  it("is deterministic per seed and differs across seeds", () => {
    const a = createRng(123);
    const b = createRng(123);
    const c = createRng(124);
    const sa = Array.from({ length: 50 }, () => a.next());
    expect(Array.from({ length: 50 }, () => b.next())).toEqual(sa);
    expect(Array.from({ length: 50 }, () => c.next())).not.toEqual(sa);
    expect(mixSeed(1, 2, 3)).toBe(mixSeed(1, 2, 3));
    expect(mixSeed(1, 2, 3)).not.toBe(mixSeed(1, 3, 2));
  });

  it("has sane uniform and normal moments and integer ranges", () => {
    const r = createRng(9);
    let s = 0;
    let s2 = 0;
    const N = 20000;
    let lo = 1;
    let hi = 0;
    for (let i = 0; i < N; i++) {
      const u = r.next();
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      s += u;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(s / N).toBeCloseTo(0.5, 1);
    s = 0;
    for (let i = 0; i < N; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    expect(Math.abs(s / N)).toBeLessThan(0.05);
    expect(s2 / N).toBeCloseTo(1, 1);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(r.int(2, 5));
    expect([...seen].sort()).toEqual([2, 3, 4, 5]);
  });

  it("shuffles into a permutation", () => {
    const arr = Array.from({ length: 100 }, (_, i) => i);
    const sh = shuffleInPlace([...arr], createRng(5));
    expect(sh).not.toEqual(arr);
    expect([...sh].sort((x, y) => x - y)).toEqual(arr);
  });
});
