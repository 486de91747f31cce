import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "@xnn/shared";
import { describe, expect, it } from "vitest";
import { loadPipelineFile, parseOverride } from "./loadPipeline.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "xnn-pipe-"));
const demo = new URL("../../../../conf/demo-base/mobilenet_v2_fe.yaml", import.meta.url).pathname;

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("loadPipelineFile", () => {
  it("loads a demo pipeline and applies typed --set overrides", () => {
    const cfg = loadPipelineFile(demo, [
      parseOverride("train.epochs=2"),
      parseOverride("data.augment=true"),
      parseOverride("stage={kind: ft, trainableLayers: all}"),
    ]);
    expect(cfg.train.epochs).toBe(2);
    expect(cfg.data.augment).toBe(true);
    expect(cfg.stage).toEqual({ kind: "ft", trainableLayers: "all", normalization: "frozen" });
    expect(cfg.model.arch).toBe("mobilenet_v2");
  });

  it("names file:line:col and the key for a bad value and an unknown key", () => {
    const file = path.join(dir, "bad.yaml");
    const text = readFileSync(demo, "utf8");
    writeFileSync(
      file,
      text
        .replace("batchSize: 32", "batchSize: -4")
        .replace("  augment: false", "  augment: false\n  colour: red"),
    );
    const err = errorOf(() => loadPipelineFile(file));
    const lines = text.split("\n");
    const bsLine = lines.findIndex((l) => l.includes("batchSize: 32")) + 2; // one line was inserted above it
    const issues = err.issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.path}`);
    expect(issues).toContain(`${file}:${bsLine}:14 train.batchSize`);
    expect(err.issues.some((i) => i.path === "data.colour" && /unknown key/.test(i.message))).toBe(true);
  });

  it("attributes errors in overridden keys to the --set argument", () => {
    const err = errorOf(() => loadPipelineFile(demo, [parseOverride("train.learningRate=fast")]));
    expect(err.issues[0]?.file).toBe("--set train.learningRate=fast");
    expect(err.issues[0]?.path).toBe("train.learningRate");
    expect(() => parseOverride("novalue")).toThrow(/key=value/);
  });
});
