import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureStage } from "../models/index.js";
import { buildSmallModel, tinyMobileNet } from "../testing.js";
import {
  CheckpointError,
  copyWeights,
  loadCheckpoint,
  MANIFEST_JSON,
  MODEL_JSON,
  readManifest,
  recoverInterruptedSwap,
  saveCheckpoint,
  WEIGHTS_BIN,
} from "./index.js";

let tmp: string;
const input = () => tf.randomUniform([3, 32, 32, 3], 0, 1, "float32", 99);

beforeAll(async () => {
  await tf.setBackend("cpu");
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "xnn-ckpt-"));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function predictBytes(model: tf.LayersModel): Buffer {
  return tf.tidy(() => {
    const y = model.predict(input()) as tf.Tensor;
    return Buffer.from((y.dataSync() as Float32Array).slice().buffer);
  });
}

describe("saveCheckpoint / loadCheckpoint", () => {
  for (const arch of ["mobilenet_v2", "convnext_v2_atto"] as const) {
    it(`${arch}: roundtrip gives bit-identical predictions and a verified manifest`, async () => {
      const { model, backboneLayerNames } = await buildSmallModel({
        arch,
        ...(arch === "mobilenet_v2" ? { widthMultiplier: 0.35 } : {}),
        seed: 5,
      });
      // Perturb GRN gamma/beta (zero at init) so the roundtrip actually exercises them.
      if (arch === "convnext_v2_atto") {
        const grn = model.getLayer("stage3_block1_grn");
        grn.setWeights(grn.getWeights().map((w, i) => tf.fill(w.shape, 0.3 + i * 0.1)));
      }
      // Stage flags travel with the topology, so a resumed FE run reloads frozen.
      configureStage(model, backboneLayerNames, { kind: "fe" });
      const dir = path.join(tmp, `rt-${arch}`);
      const res = await saveCheckpoint(model, dir);
      expect(res.files.map((f) => path.basename(f)).sort()).toEqual(
        [MANIFEST_JSON, MODEL_JSON, WEIGHTS_BIN].sort(),
      );
      expect(res.sha256).toMatch(/^[0-9a-f]{64}$/);
      const sizes = await Promise.all(
        [MODEL_JSON, WEIGHTS_BIN].map(async (f) => (await fs.stat(path.join(dir, f))).size),
      );
      expect(res.sizeBytes).toBe(sizes[0]! + sizes[1]!);
      expect((await readManifest(dir))?.sha256).toBe(res.sha256);
      // No temp or swap directories left beside the checkpoint.
      expect((await fs.readdir(tmp)).filter((n) => n.includes(".tmp-") || n.includes(".old-"))).toEqual([]);

      const loaded = await loadCheckpoint(dir);
      expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
      // (InputLayer excluded: tfjs doesn't serialize its flag, and it has no weights.)
      const flags = (m: tf.LayersModel) => m.layers.filter((l) => l.name !== "image").map((l) => l.trainable);
      expect(flags(loaded)).toEqual(flags(model));
      expect(loaded.getLayer("head_logits").trainable).toBe(true);
      expect(loaded.getLayer(backboneLayerNames[1] as string).trainable).toBe(false);
      expect(predictBytes(loaded).equals(predictBytes(model))).toBe(true);
      loaded.dispose();
      model.dispose();
    });
  }

  it("same weights give the same sha256; different weights a different one; overwrite is atomic-swap", async () => {
    const a = await tinyMobileNet({ seed: 1 });
    const b = await tinyMobileNet({ seed: 2 });
    const dir = path.join(tmp, "overwrite");
    const r1 = await saveCheckpoint(a.model, dir);
    const r1again = await saveCheckpoint(a.model, path.join(tmp, "overwrite-copy"));
    expect(r1again.sha256).toBe(r1.sha256);
    const r2 = await saveCheckpoint(b.model, dir);
    expect(r2.sha256).not.toBe(r1.sha256);
    const loaded = await loadCheckpoint(dir);
    expect(predictBytes(loaded).equals(predictBytes(b.model))).toBe(true);
    expect((await fs.readdir(tmp)).filter((n) => n.startsWith(".overwrite"))).toEqual([]);
    // A directory with other files is never replaced (the swap deletes the old directory).
    const foreign = path.join(tmp, "not-a-checkpoint");
    await fs.mkdir(foreign);
    await fs.writeFile(path.join(foreign, "notes.txt"), "keep me");
    await expect(saveCheckpoint(a.model, foreign)).rejects.toThrow(
      /holds non-checkpoint files \(notes\.txt\); refusing/,
    );
    expect(await fs.readFile(path.join(foreign, "notes.txt"), "utf8")).toBe("keep me");
    for (const m of [a.model, b.model, loaded]) m.dispose();
  });

  it("corrupted or truncated weights give an error naming the file", async () => {
    const { model } = await tinyMobileNet({ seed: 3 });
    const dir = path.join(tmp, "corrupt");
    await saveCheckpoint(model, dir);
    model.dispose();
    const wfile = path.join(dir, WEIGHTS_BIN);
    const original = await fs.readFile(wfile);

    // One flipped byte: same size, so only the hash can catch it.
    const flipped = Buffer.from(original);
    flipped[1000] = (flipped[1000] as number) ^ 0xff;
    await fs.writeFile(wfile, flipped);
    const err = await loadCheckpoint(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).file).toBe(wfile);
    expect((err as Error).message).toContain(wfile);
    expect((err as Error).message).toMatch(/corrupt/);

    // Without a manifest (e.g. a converter's output) truncation is still caught by size.
    await fs.writeFile(wfile, original.subarray(0, original.length - 8));
    await fs.rm(path.join(dir, MANIFEST_JSON));
    await expect(loadCheckpoint(dir)).rejects.toThrow(new RegExp(`truncated or corrupt .*${WEIGHTS_BIN}`));

    // Garbage model.json.
    await fs.writeFile(wfile, original);
    await fs.writeFile(path.join(dir, MODEL_JSON), "{ not json");
    await expect(loadCheckpoint(dir)).rejects.toThrow(new RegExp(`${MODEL_JSON} is not a tfjs model.json`));

    await expect(loadCheckpoint(path.join(tmp, "nope"))).rejects.toThrow(/cannot read .*model\.json/);
  });

  it("a checkpoint written by another process reloads here with identical predictions", async () => {
    const dir = path.join(tmp, "child");
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "save_in_child.ts");
    await promisify(execFile)(process.execPath, ["--import", "tsx", child, dir, "21"], {
      cwd: process.cwd(),
      timeout: 60_000,
    });
    const loaded = await loadCheckpoint(dir);
    const { model } = await buildSmallModel({ arch: "convnext_v2_atto", numClasses: 4, seed: 21 });
    // Same seed in another process => same initial weights, and the checkpoint reloads by name.
    expect(predictBytes(loaded).equals(predictBytes(model))).toBe(true);
    loaded.dispose();
    model.dispose();
  });
});

describe("copyWeights", () => {
  it("copies an FE model into a fresh model for FT, by layer name", async () => {
    const fe = await tinyMobileNet({ seed: 8 });
    const ft = await tinyMobileNet({ seed: 9 });
    expect(predictBytes(fe.model).equals(predictBytes(ft.model))).toBe(false);
    const copied = copyWeights(fe.model, ft.model);
    expect(copied.length).toBe(fe.model.layers.filter((l) => l.weights.length > 0).length);
    expect(predictBytes(fe.model).equals(predictBytes(ft.model))).toBe(true);
    // The copy is by value: training the FT model must not move the FE model.
    configureStage(ft.model, ft.backboneLayerNames, { kind: "fe" });
    ft.model.compile({ optimizer: tf.train.sgd(0.5), loss: "sparseCategoricalCrossentropy" });
    const before = predictBytes(fe.model);
    await ft.model.fit(input(), tf.tensor1d([0, 1, 2]), { epochs: 1, verbose: 0 });
    expect(predictBytes(fe.model).equals(before)).toBe(true);

    const other = await buildSmallModel({ arch: "mobilenet_v2", widthMultiplier: 0.5, seed: 8 });
    const otherBefore = predictBytes(other.model);
    // Conv1 has 16 filters at both widths; block_1_project is the first layer that differs.
    expect(() => copyWeights(fe.model, other.model)).toThrow(
      /layer 'block_1_project' weight 0 shape \[1,1,48,8\] != target \[1,1,48,16\]/,
    );
    expect(predictBytes(other.model).equals(otherBefore)).toBe(true);
    expect(() => copyWeights(fe.model, other.model, { layerNames: ["nope"] })).toThrow();
    for (const m of [fe.model, ft.model, other.model]) m.dispose();
  });
});

it("testdata helper exists (guards the cross-process test against a silent path change)", () => {
  expect(
    existsSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "save_in_child.ts")),
  ).toBe(true);
});

describe("recoverInterruptedSwap", () => {
  it("a writer killed between the two renames of a swap leaves the previous checkpoint, which is put back", async () => {
    const { model } = await tinyMobileNet({ seed: 4 });
    const dir = path.join(tmp, "swap", "checkpoint");
    const first = await saveCheckpoint(model, dir);
    const expected = predictBytes(model);
    // What a SIGKILL after "rename(dir, old)" and before "rename(tmp, dir)" leaves on disk: the
    // previous checkpoint aside, a complete new one in its temp folder, and an older stale copy.
    await fs.rename(dir, path.join(tmp, "swap", ".checkpoint.old-1-aaaa"));
    await fs.mkdir(path.join(tmp, "swap", ".checkpoint.tmp-999999-bbbb"));
    const reloaded = await loadCheckpoint(dir);
    expect(predictBytes(reloaded).equals(expected)).toBe(true);
    expect((await readManifest(dir))?.sha256).toBe(first.sha256);
    expect((await fs.readdir(path.join(tmp, "swap"))).sort()).toEqual(["checkpoint"]);
    expect(await recoverInterruptedSwap(dir)).toBe(true);
    // The next save swaps as usual.
    await saveCheckpoint(model, dir);
    reloaded.dispose();
    model.dispose();
  });
});
