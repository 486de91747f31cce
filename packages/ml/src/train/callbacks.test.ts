import { describe, expect, it } from "vitest";
import { BestTracker, EarlyStopping, ReduceLROnPlateau, warmupFactor } from "./callbacks.js";

describe("EarlyStopping (Lightning semantics, min_delta 0)", () => {
  it("stops after `patience` epochs without a strict improvement", () => {
    const es = new EarlyStopping(3);
    const losses = [1.0, 0.8, 0.8, 0.9, 0.85, 0.7, 0.75, 0.71, 0.7];
    const stops = losses.map((l) => es.update(l));
    // 0.8 repeated is not an improvement (strict); 0.7 at index 5 resets; index 8 is the third miss.
    expect(stops).toEqual([false, false, false, false, true, true, true, true, true]);
    const es2 = new EarlyStopping(3);
    const firstStop = losses.findIndex((l) => es2.update(l));
    expect(firstStop).toBe(4);
    const es3 = new EarlyStopping(3);
    const later = [1.0, 0.9, 0.95, 0.96, 0.8, 0.85, 0.86, 0.87].findIndex((l) => es3.update(l));
    expect(later).toBe(7);
    expect(es3.state).toEqual({ best: 0.8, wait: 3, stopped: true });
  });

  it("stops at once on a non-finite loss and resumes from a saved state", () => {
    expect(new EarlyStopping(3).update(Number.NaN)).toBe(true);
    const a = new EarlyStopping(2);
    a.update(1);
    a.update(1.1);
    const b = new EarlyStopping(2, 0, JSON.parse(JSON.stringify(a.state)));
    expect(b.update(1.2)).toBe(true);
  });

  it("honours min_delta", () => {
    const es = new EarlyStopping(1, 0.1);
    expect(es.update(1)).toBe(false);
    expect(es.update(0.95)).toBe(true);
  });
});

describe("ReduceLROnPlateau (PyTorch semantics)", () => {
  const opts = { factor: 0.2, patience: 2, minLr: 1e-6 };

  it("reduces after more than `patience` bad epochs, with the 1e-4 relative threshold", () => {
    const p = new ReduceLROnPlateau(1e-3, opts);
    // 0.99995 is not better than 1 * (1 - 1e-4) = 0.9999, so it counts as bad.
    const lrs = [1.0, 0.99995, 1.2, 1.1, 0.5, 0.6, 0.6, 0.6].map((m) => p.step(m));
    expect(lrs[0]).toBe(1e-3);
    expect(lrs[1]).toBe(1e-3);
    expect(lrs[2]).toBe(1e-3);
    expect(lrs[3]).toBeCloseTo(2e-4, 15); // third bad epoch > patience 2
    expect(lrs[4]).toBeCloseTo(2e-4, 15);
    expect(lrs[7]).toBeCloseTo(4e-5, 15);
    expect(p.state.reductions).toBe(2);
  });

  it("never goes below minLr and ignores changes smaller than eps", () => {
    const p = new ReduceLROnPlateau(3e-6, { ...opts, patience: 0 });
    p.step(1);
    expect(p.step(2)).toBe(1e-6);
    expect(p.step(3)).toBe(1e-6);
    expect(p.state.reductions).toBe(1);
    const q = new ReduceLROnPlateau(1e-8, { ...opts, patience: 0, minLr: 0 });
    q.step(1);
    expect(q.step(2)).toBe(1e-8); // 1e-8 - 2e-9 < eps 1e-8: PyTorch keeps the old lr
  });

  it("treats NaN as a bad epoch", () => {
    const p = new ReduceLROnPlateau(1, { factor: 0.5, patience: 0, minLr: 0 });
    p.step(1);
    expect(p.step(Number.NaN)).toBe(0.5);
  });
});

describe("BestTracker (max val F1, earliest on ties)", () => {
  it("keeps the first epoch reaching the maximum", () => {
    const t = new BestTracker();
    const saved = [0.5, 0.7, 0.7, Number.NaN, 0.65, 0.71].map((v, e) => t.update(e, v));
    expect(saved).toEqual([true, true, false, false, false, true]);
    expect(t.state).toEqual({ bestEpoch: 5, bestValue: 0.71 });
  });
});

describe("warmupFactor", () => {
  it("ramps linearly to 1", () => {
    expect([0, 1, 2, 3, 4].map((s) => warmupFactor(s, 4))).toEqual([0.25, 0.5, 0.75, 1, 1]);
    expect(warmupFactor(0, 0)).toBe(1);
  });
});
