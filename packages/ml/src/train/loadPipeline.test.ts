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

describe("train.microBatchSize", () => {
  it("takes a positive integer or null, is absent unless given, and names the field on bad input", () => {
    expect("microBatchSize" in loadPipelineFile(demo).train).toBe(false);
    expect(loadPipelineFile(demo, [parseOverride("train.microBatchSize=8")]).train.microBatchSize).toBe(8);
    expect(
      loadPipelineFile(demo, [parseOverride("train.microBatchSize=null")]).train.microBatchSize,
    ).toBeNull();
    for (const bad of ["0", "-8", "2.5", "auto"]) {
      const err = errorOf(() => loadPipelineFile(demo, [parseOverride(`train.microBatchSize=${bad}`)]));
      expect(err.issues.map((i) => i.path)).toEqual(["train.microBatchSize"]);
      expect(err.issues[0]?.file).toBe(`--set train.microBatchSize=${bad}`);
    }
    const file = path.join(dir, "micro.yaml");
    const text = readFileSync(demo, "utf8").replace(
      "  batchSize: 32",
      "  batchSize: 32\n  microBatchSize: 0",
    );
    writeFileSync(file, text);
    const line = text.split("\n").findIndex((l) => l.includes("microBatchSize: 0")) + 1;
    const issues = errorOf(() => loadPipelineFile(file)).issues.map((i) => `${i.file}:${i.line} ${i.path}`);
    expect(issues).toEqual([`${file}:${line} train.microBatchSize`]);
  });
});

describe("conf/base: the study's settings", () => {
  const base = (name: string) => new URL(`../../../../conf/base/${name}.yaml`, import.meta.url).pathname;
  it("FE at batch 300 and lr 1e-3, FT of the last 15 layers at batch 100 and lr 1e-4, 224 px, micro-batches chosen by estimate", () => {
    for (const arch of ["mobilenet_v2", "resnet18", "resnet50", "convnext_v2_atto", "convnext_v2_tiny"]) {
      const fe = loadPipelineFile(base(`${arch}_fe`));
      const ft = loadPipelineFile(base(`${arch}_ft`));
      expect([fe.train.batchSize, fe.train.learningRate, fe.data.imageSize, fe.stage.kind]).toEqual([
        300,
        1e-3,
        224,
        "fe",
      ]);
      expect([ft.train.batchSize, ft.train.learningRate, ft.data.imageSize]).toEqual([100, 1e-4, 224]);
      expect(ft.stage).toEqual({ kind: "ft", trainableLayers: 15, normalization: "frozen" });
      expect([fe.train.microBatchSize, ft.train.microBatchSize]).toEqual([null, null]);
    }
  });
});
