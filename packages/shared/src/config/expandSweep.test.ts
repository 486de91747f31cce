import { describe, expect, it } from "vitest";
import { expandSweep } from "./expandSweep";
import { pipelineSchema } from "./pipeline";
import { DEFAULT_MAX_RUNS, type SweepFile } from "./sweepFile";

const base = (arch: string, stage: "fe" | "ft") => ({
  task: "t",
  seed: 1,
  data: { dir: "data/x", imageSize: 64, augment: false },
  model: { arch, dropout: 0.2 },
  stage: stage === "fe" ? { kind: "fe" } : { kind: "ft", trainableLayers: 5 },
  classWeighting: "none",
  train: {
    batchSize: 8,
    epochs: 2,
    learningRate: 0.001,
    weightDecay: 0.01,
    earlyStopping: { patience: 3 },
    plateau: { factor: 0.2, patience: 2, minLr: 1e-6 },
  },
  eval: { average: "weighted" },
});

function bases(models: string[]) {
  const m = new Map<string, unknown>();
  for (const a of models) for (const s of ["fe", "ft"] as const) m.set(`${a}_${s}`, base(a, s));
  return m;
}

function sweep(axes: SweepFile["axes"], overrides: Record<string, unknown> = {}): SweepFile {
  return { name: "s", base: "base", overrides, axes, method: "grid", seed: 0 };
}

describe("expandSweep", () => {
  it("crosses model x weighting x stage and chains each FT run after its FE run", () => {
    const { runs, issues } = expandSweep({
      sweep: sweep({
        model: ["mobilenet_v2", "resnet18"],
        classWeighting: ["none", "balanced"],
        stage: ["fe", "ft"],
      }),
      bases: bases(["mobilenet_v2", "resnet18"]),
      baseIsDirectory: true,
      maxRuns: DEFAULT_MAX_RUNS,
    });
    expect(issues).toEqual([]);
    expect(runs).toHaveLength(8);
    for (const ft of runs.filter((r) => r.stage === "ft")) {
      const fe = runs.find((r) => r.key === ft.dependsOn)!;
      expect(fe.stage).toBe("fe");
      expect(fe.model).toBe(ft.model);
      expect(fe.classWeighting).toBe(ft.classWeighting);
    }
    expect(runs.find((r) => r.key === "resnet18-balanced-fe")!.config.classWeighting).toBe("balanced");
    expect(new Set(runs.map((r) => r.configHash)).size).toBe(8);
  });

  it("is deterministic and its hashes ignore key order", () => {
    const input = {
      sweep: sweep({ model: ["resnet18"], stage: ["fe", "ft"] }),
      bases: bases(["resnet18"]),
      baseIsDirectory: true,
      maxRuns: 100,
    };
    const a = expandSweep(input).runs;
    const reverseKeys = (v: unknown): unknown =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(
            Object.entries(v)
              .reverse()
              .map(([k, x]) => [k, reverseKeys(x)]),
          )
        : v;
    const reordered = new Map([...input.bases].map(([k, v]) => [k, reverseKeys(v)]));
    expect(JSON.stringify(reordered.get("resnet18_fe"))).not.toBe(
      JSON.stringify(input.bases.get("resnet18_fe")),
    );
    const b = expandSweep({ ...input, bases: reordered }).runs;
    expect(b.map((r) => r.configHash)).toEqual(a.map((r) => r.configHash));
  });

  it("applies overrides then axes, and any pipeline key can be an axis", () => {
    const { runs, issues } = expandSweep({
      sweep: sweep(
        { model: ["resnet18"], stage: ["fe", "ft"], "train.learningRate": [0.01, 0.001] },
        { "train.epochs": 7 },
      ),
      bases: bases(["resnet18"]),
      baseIsDirectory: true,
      maxRuns: 100,
    });
    expect(issues).toEqual([]);
    expect(runs.map((r) => r.key)).toEqual([
      "resnet18-none-fe-learningRate=0.01",
      "resnet18-none-fe-learningRate=0.001",
      "resnet18-none-ft-learningRate=0.01",
      "resnet18-none-ft-learningRate=0.001",
    ]);
    expect(runs.every((r) => r.config.train.epochs === 7)).toBe(true);
    expect(runs[2]!.dependsOn).toBe("resnet18-none-fe-learningRate=0.01");
    expect(pipelineSchema.safeParse(runs[0]!.config).success).toBe(true);
  });

  it("an FT hash changes when the FE run it starts from changes", () => {
    const one = expandSweep({
      sweep: sweep({ model: ["resnet18"], stage: ["fe", "ft"] }),
      bases: bases(["resnet18"]),
      baseIsDirectory: true,
      maxRuns: 10,
    });
    const changed = bases(["resnet18"]);
    (changed.get("resnet18_fe") as { seed: number }).seed = 99;
    const two = expandSweep({
      sweep: sweep({ model: ["resnet18"], stage: ["fe", "ft"] }),
      bases: changed,
      baseIsDirectory: true,
      maxRuns: 10,
    });
    expect(two.runs[1]!.config).toEqual(one.runs[1]!.config);
    expect(two.runs[1]!.configHash).not.toBe(one.runs[1]!.configHash);
  });

  it("refuses an expansion over the run limit before expanding it", () => {
    const seeds = Array.from({ length: 2000 }, (_, i) => i);
    const { runs, issues } = expandSweep({
      sweep: sweep({ model: ["resnet18", "mobilenet_v2"], stage: ["fe", "ft"], seed: seeds }),
      bases: bases(["resnet18", "mobilenet_v2"]),
      baseIsDirectory: true,
      maxRuns: 5000,
    });
    expect(runs).toEqual([]);
    expect(issues[0]!.message).toContain("8,000 runs, over the limit of 5,000");
  });

  it("names unknown models, stages, axes and duplicate values with their index", () => {
    const { issues } = expandSweep({
      sweep: sweep({ model: ["resnet18", "vgg16", "resnet18"], stage: ["fe", "xx"], "train.nope": [1] }),
      bases: bases(["resnet18"]),
      baseIsDirectory: true,
      maxRuns: 100,
    });
    const byPath = Object.fromEntries(issues.map((i) => [i.path.join("."), i.message]));
    expect(byPath["axes.model.1"]).toMatch(/unknown model "vgg16"/);
    expect(byPath["axes.model.2"]).toMatch(/duplicate value "resnet18"/);
    expect(byPath["axes.stage.1"]).toMatch(/unknown stage "xx"/);
    expect(byPath["axes.train.nope"]).toMatch(/unknown axis/);
  });

  it("traces an invalid value to the override or base file it came from", () => {
    const b = bases(["resnet18"]);
    (b.get("resnet18_ft") as { train: { batchSize: number } }).train.batchSize = 0;
    const { issues } = expandSweep({
      sweep: sweep({ model: ["resnet18"], stage: ["fe", "ft"] }, { "train.weightDecay": -1 }),
      bases: b,
      baseIsDirectory: true,
      maxRuns: 100,
    });
    expect(issues).toContainEqual(
      expect.objectContaining({ source: "sweep", path: ["overrides", "train.weightDecay"] }),
    );
    expect(issues).toContainEqual(
      expect.objectContaining({ source: { base: "resnet18_ft" }, path: ["train", "batchSize"] }),
    );
  });
});
