import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError } from "./ConfigError";
import { loadSweepText } from "./loadSweep";

const conf = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../conf");

const RANDOM = `name: rnd
base: demo-base
method: random
runs: 6
seed: 11
axes:
  model: [mobilenet_v2]
  stage: [fe, ft]
  train.learningRate: {loguniform: [0.0001, 0.01]}
  model.dropout: {uniform: [0.0, 0.5]}
  train.batchSize: {choice: [8, 16, 32]}
  train.epochs: {int: [2, 6]}
`;

const load = (text: string) => loadSweepText(text, { file: path.join(conf, "s.yaml") });

/** The ConfigError's issues as `line:col path: message`, for exact assertions on places. */
function issuesOf(text: string): string[] {
  try {
    load(text);
  } catch (err) {
    if (err instanceof ConfigError)
      return err.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("random sweeps", () => {
  it("expand the same way twice from the same file, and differently for another seed", () => {
    const a = load(RANDOM);
    const b = load(RANDOM);
    expect(b.runs.map((r) => [r.key, r.configHash, r.params])).toEqual(
      a.runs.map((r) => [r.key, r.configHash, r.params]),
    );
    expect(b.fingerprint).toBe(a.fingerprint);
    const c = load(RANDOM.replace("seed: 11", "seed: 12"));
    expect(c.runs.map((r) => r.configHash)).not.toEqual(a.runs.map((r) => r.configHash));
    expect(c.fingerprint).not.toBe(a.fingerprint);
  });

  it("draws runs points within their distributions, each crossed with the fixed stage axis", () => {
    const { runs, search } = load(RANDOM);
    expect(search).toMatchObject({ method: "random", seed: 11, runs: 6, earlyTerminate: null });
    expect(runs).toHaveLength(12);
    const fe = runs.filter((r) => r.stage === "fe");
    expect(fe.map((r) => r.trial)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const r of runs) {
      const p = r.params!;
      expect(Object.keys(p)).toEqual([
        "train.learningRate",
        "model.dropout",
        "train.batchSize",
        "train.epochs",
      ]);
      expect(p["train.learningRate"]).toBeGreaterThanOrEqual(1e-4);
      expect(p["train.learningRate"]).toBeLessThanOrEqual(1e-2);
      expect(p["model.dropout"]).toBeGreaterThanOrEqual(0);
      expect(p["model.dropout"]).toBeLessThan(0.5);
      expect([8, 16, 32]).toContain(p["train.batchSize"]);
      expect(Number.isInteger(p["train.epochs"])).toBe(true);
      expect(p["train.epochs"]).toBeGreaterThanOrEqual(2);
      expect(p["train.epochs"]).toBeLessThanOrEqual(6);
      // The drawn values are what the run trains with.
      expect(r.config.train.learningRate).toBe(p["train.learningRate"]);
      expect(r.config.train.batchSize).toBe(p["train.batchSize"]);
    }
    // Six distinct points: equal points would be one job.
    expect(new Set(fe.map((r) => JSON.stringify(r.params))).size).toBe(6);
  });

  it("chains each FT run to the FE run of the same point", () => {
    const { runs } = load(RANDOM);
    const byKey = new Map(runs.map((r) => [r.key, r]));
    for (const ft of runs.filter((r) => r.stage === "ft")) {
      const fe = byKey.get(ft.dependsOn!)!;
      expect(fe.stage).toBe("fe");
      expect(fe.trial).toBe(ft.trial);
      expect(fe.params).toEqual(ft.params);
      expect(ft.key).toBe(fe.key.replace("-fe-", "-ft-"));
    }
  });

  it("samples a model by choice and reads the base file of each model drawn", () => {
    const { runs } = load(
      RANDOM.replace("model: [mobilenet_v2]", "model: {choice: [mobilenet_v2, resnet18]}").replace(
        "runs: 6",
        "runs: 10",
      ),
    );
    expect(new Set(runs.map((r) => r.model))).toEqual(new Set(["mobilenet_v2", "resnet18"]));
    for (const r of runs) expect(r.config.model.arch).toBe(r.model);
  });

  it("keeps a grid sweep's fingerprint and keys as they were", () => {
    const grid = load("name: g\nbase: demo-base\naxes:\n  model: [resnet18]\n  stage: [fe, ft]\n");
    expect(grid.search.method).toBe("grid");
    expect(grid.runs.map((r) => r.key)).toEqual(["resnet18-none-fe", "resnet18-none-ft"]);
    expect(grid.runs.every((r) => r.trial === null && r.params === null)).toBe(true);
  });

  it("counts early termination in the fingerprint: the same space with and without it are two sweeps", () => {
    const plain = load(RANDOM);
    const asha = load(
      `${RANDOM}earlyTerminate: {method: asha, metric: val.f1, minEpochs: 1, reductionFactor: 3}\n`,
    );
    expect(asha.runs.map((r) => r.configHash)).toEqual(plain.runs.map((r) => r.configHash));
    expect(asha.fingerprint).not.toBe(plain.fingerprint);
    expect(asha.search.earlyTerminate).toEqual({
      method: "asha",
      metric: "val.f1",
      minEpochs: 1,
      reductionFactor: 3,
      minRuns: 3,
    });
  });
});

describe("search bad input is reported at its line, and nothing is expanded", () => {
  it.each([
    [
      "an empty range",
      "  model.dropout: {uniform: [0.0, 0.5]}",
      "  model.dropout: {uniform: [0.2, 0.2]}",
      "10:28 axes.model.dropout.uniform: empty range [0.2, 0.2]; put a single value in overrides",
    ],
    [
      "an inverted range",
      "  train.epochs: {int: [2, 6]}",
      "  train.epochs: {int: [6, 2]}",
      "12:23 axes.train.epochs.int: inverted range [6, 2]; the low bound comes first",
    ],
    [
      "loguniform over zero",
      "{loguniform: [0.0001, 0.01]}",
      "{loguniform: [0, 0.01]}",
      "9:37 axes.train.learningRate.loguniform[0]: loguniform needs positive bounds, got 0",
    ],
    [
      "loguniform over a negative number",
      "{loguniform: [0.0001, 0.01]}",
      "{loguniform: [0.0001, -1]}",
      "9:45 axes.train.learningRate.loguniform[1]: loguniform needs positive bounds, got -1",
    ],
    [
      "runs missing for random",
      "runs: 6\n",
      "",
      "3:9 method: method random needs runs: N (how many points of the space to try)",
    ],
    [
      "an unknown distribution",
      "{choice: [8, 16, 32]}",
      "{normal: [8, 16]}",
      '11:29 axes.train.batchSize.normal: unknown distribution "normal"; expected one of choice, uniform, loguniform, int',
    ],
    [
      "an empty choice",
      "{choice: [8, 16, 32]}",
      "{choice: []}",
      "11:29 axes.train.batchSize.choice: choice needs a non-empty list of values",
    ],
    [
      "a non-integer int bound",
      "{int: [2, 6]}",
      "{int: [2, 6.5]}",
      "12:27 axes.train.epochs.int[1]: int bounds must be integers, got 6.5",
    ],
    [
      "a drawn value the pipeline refuses",
      "{int: [2, 6]}",
      "{int: [0, 1]}",
      /^12:17 axes.train.epochs: drew 0: must be > 0, got 0$/,
    ],
    [
      "a sampled stage",
      "stage: [fe, ft]",
      "stage: {choice: [fe, ft]}",
      "8:10 axes.stage: stage is a fixed axis (a list such as [fe, ft]): FT runs start from their FE run",
    ],
    ["more runs than the space holds", "runs: 6", "runs: 6\n", null],
  ] as const)("%s", (_, from, to, expected) => {
    if (expected === null) {
      const text = `name: small\nbase: demo-base\nmethod: random\nruns: 5\naxes:\n  model: [resnet18]\n  stage: [fe]\n  train.batchSize: {choice: [8, 16]}\n`;
      expect(issuesOf(text)).toEqual([
        "4:7 runs: the space has only 2 distinct point(s) for runs: 5; widen it or use method grid",
      ]);
      return;
    }
    const issues = issuesOf(RANDOM.replace(from, to));
    if (typeof expected === "string") expect(issues).toEqual([expected]);
    else expect(issues.some((i) => expected.test(i))).toBe(true);
  });

  it("runs missing for bayes", () => {
    expect(issuesOf(RANDOM.replace("method: random", "method: bayes").replace("runs: 6\n", ""))).toEqual([
      "3:9 method: method bayes needs runs: N (how many points of the space to try)",
    ]);
  });

  it("a distribution in a grid sweep, and runs in a grid sweep", () => {
    expect(issuesOf(RANDOM.replace("method: random\n", ""))).toEqual([
      "3:7 runs: runs applies to method random or bayes only",
      "8:23 axes.train.learningRate: a distribution needs method random or bayes; a grid axis lists its values",
      "9:18 axes.model.dropout: a distribution needs method random or bayes; a grid axis lists its values",
      "10:20 axes.train.batchSize: a distribution needs method random or bayes; a grid axis lists its values",
      "11:17 axes.train.epochs: a distribution needs method random or bayes; a grid axis lists its values",
    ]);
  });

  it("an unknown stage for early termination, while a known one parses", () => {
    const rule = `${RANDOM}earlyTerminate:\n  method: asha\n  metric: train.loss\n`;
    expect(load(`${rule}  stages: [ft]\n`).search.earlyTerminate?.stages).toEqual(["ft"]);
    expect(load(rule).search.earlyTerminate).not.toHaveProperty("stages");
    expect(issuesOf(`${rule}  stages: [ft, xx]\n`)).toEqual([
      '16:16 earlyTerminate.stages[1]: unknown value "xx"; expected one of "fe", "ft"',
    ]);
  });

  it("an unknown metric for early termination", () => {
    const text = `${RANDOM}earlyTerminate:\n  method: asha\n  metric: val.f2\n`;
    expect(issuesOf(text)).toEqual([
      '15:11 earlyTerminate.metric: unknown metric "val.f2"; expected one of val.f1, val.accuracy, val.precision, val.recall, val.loss, train.loss, train.accuracy',
    ]);
  });

  it("an unknown early-termination method and a reduction factor of 1", () => {
    const text = `${RANDOM}earlyTerminate:\n  method: hyperband\n  metric: val.f1\n  reductionFactor: 1\n`;
    expect(issuesOf(text)).toEqual([
      '14:11 earlyTerminate.method: unknown value "hyperband"; expected one of "asha", "median"',
      "16:20 earlyTerminate.reductionFactor: must be > 1, got 1",
    ]);
  });
});
