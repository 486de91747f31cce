import { describe, expect, it } from "vitest";
import { useApiHarness } from "./testing/harness";
import { seedRunId, seedRuns } from "./testing/seedRuns";

const F1 = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

const h = useApiHarness({
  serverPer: "file",
  seed: async ({ sql, prisma }) => {
    // Six runs: model.arch and train.learningRate cycle with i % 3, classWeighting with i % 2, seed with i % 5.
    await seedRuns(sql, { sweepId: "axes", task: "xray", runs: 6, epochs: 1, artifacts: true });
    for (let i = 0; i < 6; i++) {
      const id = seedRunId("axes", i);
      await prisma.run.update({ where: { id }, data: { testF1: F1[i]! } });
      await prisma.evaluation.update({
        where: { runId_split: { runId: id, split: "test" } },
        data: { perClass: { normal: { recall: F1[i]! / 2 }, virus: { recall: 1 - F1[i]! } } },
      });
    }
  },
});

describe("sweep analysis", () => {
  it("gives each axis's level means and spread of test F1 and per-class recall, as computed by hand", async () => {
    const res = await h.as("viewer").get("/api/sweeps/axes/analysis");
    expect(res.status).toBe(200);
    expect(res.body.runs).toBe(6);
    const axis = (name: string) => res.body.axes.find((a: { axis: string }) => a.axis === name);
    // Constant config values are not axes.
    expect(axis("train.epochs")).toBeUndefined();
    expect(axis("task")).toBeUndefined();

    const weighting = axis("classWeighting");
    // none: runs 0, 2, 4 -> (0.5 + 0.7 + 0.9) / 3; balanced: runs 1, 3, 5 -> (0.6 + 0.8 + 1.0) / 3.
    expect(weighting.levels.map((l: { value: string; runs: number }) => [l.value, l.runs])).toEqual([
      ["balanced", 3],
      ["none", 3],
    ]);
    expect(weighting.levels[0].meanTestF1).toBeCloseTo(0.8, 12);
    expect(weighting.levels[1].meanTestF1).toBeCloseTo(0.7, 12);
    expect(weighting.f1Range).toBeCloseTo(0.1, 12);
    expect(weighting.levels[0].meanRecall.normal).toBeCloseTo(0.4, 12);
    expect(weighting.levels[1].meanRecall.virus).toBeCloseTo(0.3, 12);
    expect(weighting.recallRange.normal).toBeCloseTo(0.05, 12);

    const arch = axis("model.arch");
    // mobilenet_v2: runs 0, 3 -> 0.65; resnet18: 1, 4 -> 0.75; convnext_v2_atto: 2, 5 -> 0.85.
    expect(
      arch.levels.map((l: { value: string; meanTestF1: number }) => [
        l.value,
        Math.round(l.meanTestF1 * 1e9) / 1e9,
      ]),
    ).toEqual([
      ["convnext_v2_atto", 0.85],
      ["mobilenet_v2", 0.65],
      ["resnet18", 0.75],
    ]);
    expect(arch.f1Range).toBeCloseTo(0.2, 12);
    // seed 0: runs 0 and 5 -> 0.75; seeds 1-4 one run each.
    const seed = axis("seed");
    expect(seed.levels.find((l: { value: number }) => l.value === 0).meanTestF1).toBeCloseTo(0.75, 12);
    expect(seed.f1Range).toBeCloseTo(0.9 - 0.6, 12);
    // Axes come largest effect first.
    expect(res.body.axes[0].f1Range).toBeGreaterThanOrEqual(res.body.axes.at(-1).f1Range);

    expect(res.body.parallel).toHaveLength(6);
    expect(res.body.parallel[0]).toMatchObject({
      testF1: expect.any(Number),
      classWeighting: expect.any(String),
    });
    expect((await h.as("viewer").get("/api/sweeps/ghost/analysis")).status).toBe(404);
  });
});
