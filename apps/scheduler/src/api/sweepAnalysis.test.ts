import { sweepAnalysisSchema } from "@xnn/shared/records";
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
    sweepAnalysisSchema.parse(res.body);
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
    expect([weighting.levels[0].minTestF1, weighting.levels[0].maxTestF1]).toEqual([0.6, 1]);
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

    // A grid: its axes are crossed, so no importance estimate.
    expect(res.body.method).toBe("grid");
    expect(res.body.importance).toBeNull();
    expect(res.body.classNames).toEqual(["normal", "virus"]);
    expect(res.body.parallel).toHaveLength(6);
    expect(res.body.parallel.find((r: { runId: string }) => r.runId === seedRunId("axes", 1))).toMatchObject({
      testF1: 0.6,
      recall: { normal: 0.3, virus: 0.4 },
      values: { classWeighting: "balanced", "model.arch": "resnet18", seed: 1 },
    });
    expect((await h.as("viewer").get("/api/sweeps/ghost/analysis")).status).toBe(404);
  });
});

describe("parameter importance", () => {
  it("estimates, for a random sweep, each axis's share of the variance of test F1, as computed by hand", async () => {
    // The same six seeded configs (model.arch and train.learningRate = i % 3, classWeighting = i % 2,
    // seed = i % 5), drawn by a random search, with test F1 that mostly follows the model.
    const RANDOM_F1 = [0.6, 0.7, 0.9, 0.62, 0.68, 0.88];
    await seedRuns(h.sql, { sweepId: "drawn", task: "xray", runs: 6, epochs: 1, artifacts: true });
    await h.prisma.sweep.update({
      where: { id: "drawn" },
      data: {
        search: {
          method: "random",
          seed: 7,
          runs: 6,
          space: { "model.arch": { choice: ["mobilenet_v2", "resnet18", "convnext_v2_atto"] } },
          earlyTerminate: null,
        },
      },
    });
    for (let i = 0; i < 6; i++) {
      await h.prisma.run.update({ where: { id: seedRunId("drawn", i) }, data: { testF1: RANDOM_F1[i]! } });
    }
    const res = await h.as("viewer").get("/api/sweeps/drawn/analysis");
    expect(res.status).toBe(200);
    const analysis = sweepAnalysisSchema.parse(res.body);
    expect(analysis.method).toBe("random");
    // Grand mean 0.73, SS_total 0.0838. model.arch: level means 0.61, 0.69, 0.89, SS_between 0.0832,
    // SS_within 0.0006, epsilon2 = (0.0832 - 2 * 0.0006 / 3) / 0.0838. train.learningRate groups the
    // runs the same way. seed: SS_between 0.0446 over 5 levels of 6 runs, epsilon2 clamped to 0.
    // classWeighting: SS_between 1/15000, epsilon2 0. Ranked by epsilon2, then eta2, then name.
    const importance = analysis.importance!;
    expect(importance.map((p) => [p.axis, p.levels])).toEqual([
      ["model.arch", 3],
      ["train.learningRate", 3],
      ["seed", 5],
      ["classWeighting", 2],
    ]);
    const byAxis = Object.fromEntries(importance.map((p) => [p.axis, p]));
    expect(byAxis["model.arch"]!.eta2).toBeCloseTo(0.0832 / 0.0838, 12);
    expect(byAxis["model.arch"]!.epsilon2).toBeCloseTo(0.0828 / 0.0838, 12);
    expect(byAxis["train.learningRate"]!.epsilon2).toBeCloseTo(0.0828 / 0.0838, 12);
    expect(byAxis.seed!.eta2).toBeCloseTo(0.0446 / 0.0838, 12);
    expect(byAxis.seed!.epsilon2).toBe(0);
    expect(byAxis.classWeighting!.eta2).toBeCloseTo(1 / 15000 / 0.0838, 12);
    expect(byAxis.classWeighting!.epsilon2).toBe(0);
  });
});
