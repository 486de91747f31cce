import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { initBackend, saveCheckpoint, tf } from "@xnn/ml";
import { buildTinyClassifier } from "@xnn/ml/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WarmModels, weightBytes } from "./warmModels";

let tmp: string;
const dirs: string[] = [];
/** Weights of one tiny version, both copies (as trained and folded for IG). */
let oneVersion: number;

beforeAll(async () => {
  await initBackend("auto");
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-warm-"));
  for (const seed of [1, 2, 3]) {
    const model = buildTinyClassifier({ imageSize: 16, numClasses: 3, seed });
    const dir = path.join(tmp, `v${seed}`);
    await saveCheckpoint(model, dir);
    model.dispose();
    dirs.push(dir);
  }
  const probe = new WarmModels(Number.POSITIVE_INFINITY);
  oneVersion = (await probe.load("probe", dirs[0] as string)).bytes;
  probe.dispose();
}, 60_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("WarmModels", () => {
  it("counts both copies' float32 weights", async () => {
    const m = buildTinyClassifier({ imageSize: 16, numClasses: 3, seed: 9 });
    expect(weightBytes(m)).toBe(m.countParams() * 4);
    m.dispose();
    expect(oneVersion).toBeGreaterThan(0);
  });

  it("keeps versions within the byte budget, least recently used out, and frees what it drops", async () => {
    const tensorsBefore = tf.memory().numTensors;
    const evicted: string[] = [];
    const warm = new WarmModels(oneVersion * 2, (id) => evicted.push(id));
    await warm.load("a", dirs[0] as string);
    await warm.load("b", dirs[1] as string);
    expect(warm.ids()).toEqual(["a", "b"]);
    // Using "a" makes "b" the least recently used: loading "c" drops "b".
    expect(warm.get("a")).toBeDefined();
    await warm.load("c", dirs[2] as string);
    expect(warm.ids()).toEqual(["a", "c"]);
    expect(evicted).toEqual(["b"]);
    expect(warm.has("b")).toBe(false);
    expect(warm.get("b")).toBeUndefined();
    expect(warm.totalBytes).toBeLessThanOrEqual(oneVersion * 2);
    expect(warm.loadCount).toBe(3);
    warm.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it("keeps the version just loaded even when it alone is over the budget", async () => {
    const warm = new WarmModels(oneVersion / 2);
    await warm.load("a", dirs[0] as string);
    expect(warm.ids()).toEqual(["a"]);
    await warm.load("b", dirs[1] as string);
    expect(warm.ids()).toEqual(["b"]);
    warm.dispose();
  });
});
