import { describe, expect, it } from "vitest";
import { progressLines } from "./sweepProgress";
import type { RunState } from "./watchSweep";

const run = (over: Partial<RunState>): RunState => ({
  id: "r1",
  key: "mobilenet_v2-none-fe",
  status: "running",
  epochsDone: 1,
  epochs: 9,
  bestValF1: 0.5,
  prunedReason: null,
  ...over,
});

describe("progressLines (pnpm sweep --watch and pnpm demo off a terminal)", () => {
  it("prints a run only when its state changed, stamped with the elapsed seconds, with its prune reason", () => {
    let t = 1_000_000;
    const lines = progressLines(() => t);
    expect(lines([run({})])).toEqual(["[   0s] mobilenet_v2-none-fe running 1/9 epochs, val F1 0.500"]);
    t += 4_000;
    expect(lines([run({})])).toEqual([]);
    t += 3_000;
    expect(
      lines([
        run({ status: "pruned", epochsDone: 2, prunedReason: "asha at epoch 1: val.f1 0.5 ranks 3 of 3" }),
        run({ id: "r2", key: "mobilenet_v2-none-ft", status: "queued", epochsDone: 0, bestValF1: null }),
      ]),
    ).toEqual([
      "[   7s] mobilenet_v2-none-fe pruned 2/9 epochs, val F1 0.500 (asha at epoch 1: val.f1 0.5 ranks 3 of 3)",
      "[   7s] mobilenet_v2-none-ft queued 0/9 epochs, val F1 -",
    ]);
  });
});
