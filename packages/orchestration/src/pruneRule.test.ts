import type { EarlyTerminate } from "@xnn/shared";
import { describe, expect, it } from "vitest";
import { ashaRungs, type Curve, decide, decideSweep, judgedEpochs, type SweepRun } from "./pruneRule";

/** A curve from its values at epochs 1, 2, ...; epoch e recorded at start + 100 * (e - 1) ms. */
function curve(runId: string, start: number, values: number[], maxEpochs = 9): Curve {
  return {
    runId,
    maxEpochs,
    points: values.map((value, i) => ({ epoch: i + 1, value, at: start + 100 * i })),
  };
}

const asha: EarlyTerminate = {
  method: "asha",
  metric: "val.f1",
  minEpochs: 1,
  reductionFactor: 3,
  minRuns: 3,
};
const medianLoss: EarlyTerminate = {
  method: "median",
  metric: "val.loss",
  minEpochs: 2,
  reductionFactor: 3,
  minRuns: 3,
};

describe("ashaRungs", () => {
  it("places rungs at minEpochs * eta^k below the last epoch", () => {
    expect(ashaRungs(1, 3, 9)).toEqual([1, 3]);
    expect(ashaRungs(1, 3, 10)).toEqual([1, 3, 9]);
    expect(ashaRungs(2, 2, 20)).toEqual([2, 4, 8, 16]);
    expect(ashaRungs(1, 1.5, 5)).toEqual([1, 2, 3]);
    expect(ashaRungs(3, 3, 3)).toEqual([]);
  });
});

describe("judgedEpochs", () => {
  it("are where a worker waits for the verdict: ASHA's rungs, every median epoch before the last, none for a stage left alone", () => {
    expect(judgedEpochs({ ...asha, minEpochs: 2, reductionFactor: 2, stages: ["ft"] }, "ft", 16)).toEqual([
      2, 4, 8,
    ]);
    expect(judgedEpochs({ ...asha, minEpochs: 2, reductionFactor: 2, stages: ["ft"] }, "fe", 16)).toEqual([]);
    expect(judgedEpochs(asha, "fe", 10)).toEqual([1, 3, 9]);
    expect(judgedEpochs(medianLoss, "ft", 5)).toEqual([2, 3, 4]);
  });
});

describe("decide: asha", () => {
  // val.f1 at epoch 1 (the first rung), in the order the runs reached it.
  const curves = [
    curve("a", 100, [0.5, 0.6, 0.7]),
    curve("b", 110, [0.4]),
    curve("c", 120, [0.6, 0.62, 0.65]),
    curve("d", 130, [0.3]),
    curve("e", 140, [0.55]),
    curve("f", 150, [0.2]),
    curve("g", 160, [0.58]),
    curve("h", 170, [0.9]),
  ];

  it("lets the first run at a rung go on", () => {
    expect(decide(asha, "a", curves)).toEqual({ prune: false });
  });

  it("keeps only the best while fewer than eta runs reached the rung", () => {
    expect(decide(asha, "b", curves)).toEqual({
      prune: true,
      reason: "asha at epoch 1: val.f1 0.4 ranks 2 of 2; only the top 1 (0.5 or better) go on",
      numbers: {
        rule: "asha",
        metric: "val.f1",
        epoch: 1,
        value: 0.4,
        threshold: 0.5,
        of: 2,
        rank: 2,
        keep: 1,
      },
    });
    expect(decide(asha, "d", curves)).toMatchObject({
      prune: true,
      numbers: { of: 4, rank: 4, keep: 1, threshold: 0.6 },
    });
    expect(decide(asha, "e", curves)).toMatchObject({
      prune: true,
      numbers: { of: 5, rank: 2, keep: 1, threshold: 0.6 },
    });
  });

  it("keeps the top floor(n / eta) once n runs reached the rung", () => {
    // Sixth at the rung: the top 2 go on (0.6 and 0.55); 0.2 is sixth.
    expect(decide(asha, "f", curves)).toMatchObject({
      prune: true,
      numbers: { of: 6, rank: 6, keep: 2, threshold: 0.55 },
    });
    // Seventh: 0.58 is second of seven, inside the top 2.
    expect(decide(asha, "g", curves)).toEqual({ prune: false });
  });

  it("judges a run only against the runs that reached the rung before it: a later, better run changes nothing", () => {
    expect(decide(asha, "c", curves)).toMatchObject({ prune: true, numbers: { epoch: 3 } });
    // At rung 1, c (0.6) was best of a, b, c; h (0.9) came later and is not counted there.
    const atRung1 = curves.map((c) => ({ ...c, points: c.points.filter((p) => p.epoch === 1) }));
    expect(decide(asha, "c", atRung1)).toEqual({ prune: false });
  });

  it("judges each rung on the best value so far and prunes at the first rung it fails", () => {
    // At rung 3, a (best 0.7, reached at 300) was there before c (best 0.65, at 320).
    expect(decide(asha, "c", curves)).toEqual({
      prune: true,
      reason: "asha at epoch 3: val.f1 0.65 ranks 2 of 2; only the top 1 (0.7 or better) go on",
      numbers: {
        rule: "asha",
        metric: "val.f1",
        epoch: 3,
        value: 0.65,
        threshold: 0.7,
        of: 2,
        rank: 2,
        keep: 1,
      },
    });
    // A dip after a good epoch does not count against a run: its best so far is what it keeps.
    const dip = [curve("a", 100, [0.5, 0.6, 0.7]), curve("x", 120, [0.8, 0.2, 0.1])];
    expect(decide(asha, "x", dip)).toEqual({ prune: false });
  });

  it("does not judge a run at its last epoch, nor one that has not reached a rung", () => {
    const short = [curve("a", 100, [0.9, 0.9, 0.9], 3), curve("y", 120, [0.9, 0.1, 0.1], 3)];
    expect(decide({ ...asha, minEpochs: 3 }, "y", short)).toEqual({ prune: false });
    expect(decide({ ...asha, minEpochs: 2 }, "b", curves)).toEqual({ prune: false });
  });

  it("follows the metric's direction: lower is better for a loss", () => {
    const losses = [curve("a", 100, [0.5]), curve("b", 110, [0.4])];
    expect(decide({ ...asha, metric: "val.loss" }, "b", losses)).toEqual({ prune: false });
    expect(
      decide({ ...asha, metric: "val.loss" }, "a", [curve("b", 90, [0.4]), curve("a", 100, [0.5])]),
    ).toMatchObject({
      prune: true,
      numbers: { value: 0.5, threshold: 0.4 },
    });
  });
});

describe("decide: median", () => {
  // val.loss; the others reached epoch 2 at 200, 210 and 220 with best losses 0.8, 0.7 and 0.6.
  const others = [curve("r1", 100, [1.0, 0.8]), curve("r2", 110, [0.9, 0.7]), curve("r3", 120, [1.2, 0.6])];

  it("stops a run whose best so far is worse than the median of the others at the same epoch", () => {
    expect(decide(medianLoss, "u", [...others, curve("u", 200, [1.1, 0.75])])).toEqual({
      prune: true,
      reason: "median at epoch 2: best val.loss 0.75 is worse than the median 0.7 of 3 other runs",
      numbers: { rule: "median", metric: "val.loss", epoch: 2, value: 0.75, threshold: 0.7, of: 4 },
    });
  });

  it("keeps a run whose best so far beats the median, even if its latest epoch does not", () => {
    expect(decide(medianLoss, "t", [...others, curve("t", 200, [0.5, 0.9])])).toEqual({ prune: false });
  });

  it("needs minRuns others at the epoch, and never judges before minEpochs", () => {
    // v reached epoch 2 at 215: only r1 and r2 were there before it.
    expect(decide(medianLoss, "v", [...others, curve("v", 115, [2.0, 2.0])])).toEqual({ prune: false });
    expect(decide(medianLoss, "w", [...others, curve("w", 300, [5.0])])).toEqual({ prune: false });
  });

  it("takes the middle pair's mean for an even count", () => {
    const four = [...others, curve("r4", 130, [1.0, 0.5, 0.4])];
    // At epoch 2 the others' bests are 0.8, 0.7, 0.6, 0.5: median 0.65; 0.64 survives.
    // At epoch 3 only r4 (0.4) is there: fewer than minRuns, no decision.
    expect(decide(medianLoss, "z", [...four, curve("z", 200, [0.9, 0.64, 0.64])])).toEqual({ prune: false });
    const late = decide(medianLoss, "z", [...four, curve("z", 200, [0.9, 0.66])]);
    expect(late).toMatchObject({ prune: true, numbers: { epoch: 2, of: 5 } });
    expect(late.prune && late.numbers.threshold).toBeCloseTo(0.65, 12);
  });
});

describe("decideSweep", () => {
  // train.loss of three FE runs at epochs 1-3 (rung 1 only below maxEpochs 3): fe1 reached epoch 1
  // first, fe2 second with a worse loss, fe3 third with the best.
  const lossRule: EarlyTerminate = { ...asha, metric: "train.loss" };
  const fe = (id: string, status: string): SweepRun => ({
    id,
    stage: "fe",
    status,
    feRunId: null,
    maxEpochs: 3,
  });
  const ft = (id: string, status: string, feRunId: string): SweepRun => ({
    id,
    stage: "ft",
    status,
    feRunId,
    maxEpochs: 9,
  });
  const points = new Map(
    [
      curve("fe1", 100, [0.9, 0.8, 0.7], 3),
      curve("fe2", 110, [1.0, 0.9, 0.8], 3),
      curve("fe3", 120, [0.5, 0.4, 0.3], 3),
    ].map((c) => [c.runId, c.points]),
  );

  it("prunes the queued FT run of an FE run that ended before a pass judged it, as a pass in time would have", () => {
    const runs = [fe("fe1", "succeeded"), fe("fe2", "succeeded"), fe("fe3", "succeeded")];
    const fts = [ft("ft1", "queued", "fe1"), ft("ft2", "queued", "fe2"), ft("ft3", "queued", "fe3")];
    const inTime = decide(
      lossRule,
      "fe2",
      [...points].map(([runId, p]) => ({ runId, maxEpochs: 3, points: p })),
    );
    expect(inTime).toMatchObject({ prune: true, numbers: { epoch: 1, rank: 2, of: 2 } });
    expect(decideSweep(lossRule, [...runs, ...fts], points)).toEqual([
      {
        runId: "ft2",
        prune: true,
        reason: `its FE run fe2 ended before the rule stopped it; ${(inTime as { reason: string }).reason}`,
        numbers: null,
        feRunId: "fe2",
      },
    ]);
  });

  it("stops a running FE run itself, and leaves FT runs of pruned, failed or kept FE runs alone", () => {
    const runs = [
      fe("fe1", "succeeded"),
      fe("fe2", "running"),
      fe("fe3", "succeeded"),
      ft("ft1", "queued", "fe1"),
      ft("ft2", "queued", "fe2"),
      ft("ft3", "queued", "fe3"),
    ];
    expect(decideSweep(lossRule, runs, points).map((d) => d.runId)).toEqual(["fe2"]);
    const ended = runs.map((r) => (r.id === "fe2" ? { ...r, status: "pruned" } : r));
    expect(decideSweep(lossRule, ended, points)).toEqual([]);
    const failed = runs.map((r) => (r.id === "fe2" ? { ...r, status: "failed" } : r));
    expect(decideSweep(lossRule, failed, points)).toEqual([]);
  });

  it("judges FT runs against FT runs only", () => {
    // ft9's loss is worse than every FE run's but it is the first FT run at its rung: it goes on.
    const ftPoints = new Map([...points, ["ft9", curve("ft9", 50, [2.0, 1.5], 9).points]]);
    const runs = [fe("fe1", "succeeded"), fe("fe3", "succeeded"), ft("ft9", "running", "fe1")];
    expect(decideSweep(lossRule, runs, ftPoints)).toEqual([]);
  });
});

describe("decideSweep with stages", () => {
  const ftOnly: EarlyTerminate = { ...asha, metric: "train.loss", stages: ["ft"] };
  const run = (id: string, stage: string, status: string, feRunId: string | null = null): SweepRun => ({
    id,
    stage,
    status,
    feRunId,
    maxEpochs: 3,
  });
  // Each cohort: a reached rung 1 first with loss 0.5, b second with a worse 0.9.
  const points = new Map(
    [
      curve("feA", 100, [0.5]),
      curve("feB", 110, [0.9]),
      curve("ftA", 200, [0.5]),
      curve("ftB", 210, [0.9]),
    ].map((c) => [c.runId, c.points]),
  );

  it("judges only the runs of the listed stages, and prunes no FT run for an FE run it does not judge", () => {
    const runs = [
      run("feA", "fe", "succeeded"),
      run("feB", "fe", "running"),
      run("feC", "fe", "succeeded"),
      run("ftA", "ft", "running", "feA"),
      run("ftB", "ft", "running", "feA"),
      run("ftC", "ft", "queued", "feB"),
    ];
    expect(decideSweep(ftOnly, runs, points).map((d) => d.runId)).toEqual(["ftB"]);
    const every = { ...ftOnly, stages: undefined };
    expect(decideSweep(every, runs, points).map((d) => d.runId)).toEqual(["feB", "ftB"]);
  });
});
