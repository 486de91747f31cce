// The worker-payload part of the bad-input catalogue (issue 12): describePayloadProblem is what the
// processor runs before anything else, and a payload it refuses fails the job as unrecoverable
// before any row, artifact or checkpoint is touched. Each case: the problem names the field.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadSweepFile, type PipelineConfig, RUN_JOB_VERSION } from "@xnn/shared";
import { describe, expect, it } from "vitest";
import { describePayloadProblem } from "./processor";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const run = loadSweepFile(path.join(root, "conf/demo.yaml")).runs[0]!;
const good = {
  v: RUN_JOB_VERSION,
  runId: "sweep.run-1",
  sweepId: "sweep",
  runKey: run.key,
  configHash: run.configHash,
  config: run.config,
  feRunId: null,
};
const withConfig = (patch: (c: PipelineConfig) => void) => {
  const config = structuredClone(run.config);
  patch(config);
  return { ...good, config };
};

describe("describePayloadProblem", () => {
  it("accepts the payload the scheduler writes", () => {
    expect(describePayloadProblem(good)).toBeNull();
  });

  it.each([
    ["no payload at all", null, /\(payload\)/],
    ["a string", "run it", /\(payload\)/],
    ["an empty object", {}, /missing field "runId"/],
    ["a payload from a newer scheduler", { ...good, v: RUN_JOB_VERSION + 1 }, /field "v"/],
    ["an unexpected field", { ...good, shell: "rm -rf /" }, /unexpected field "shell"/],
    ["an empty run id", { ...good, runId: "" }, /field "runId"/],
    ["a config hash that is not sha256", { ...good, configHash: "abc" }, /field "configHash"/],
    ["an FE run id that is a number", { ...good, feRunId: 7 }, /field "feRunId"/],
    [
      "a config without data.dir",
      withConfig((c) => delete (c.data as { dir?: string }).dir),
      /missing field "config\.data\.dir"/,
    ],
    [
      "an unknown model",
      withConfig((c) => ((c.model as { arch: string }).arch = "alexnet")),
      /field "config\.model\.arch"/,
    ],
    [
      "a negative learning rate",
      withConfig((c) => (c.train.learningRate = -1)),
      /field "config\.train\.learningRate"/,
    ],
    ["an image size of 1 px", withConfig((c) => (c.data.imageSize = 1)), /field "config\.data\.imageSize"/],
  ])("%s: refused, naming the field", (_, payload, named) => {
    const problem = describePayloadProblem(payload);
    expect(problem).not.toBeNull();
    expect(problem).toMatch(named);
  });
});
