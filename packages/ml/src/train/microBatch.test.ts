import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import { backendMemoryLimit } from "../backend/initBackend.js";
import {
  chooseMicroBatchSize,
  estimateMemory,
  MEMORY_BUDGET_FRACTION,
  planMicroBatch,
  splitEvenly,
} from "./microBatch.js";

const MiB = 2 ** 20;

describe("splitEvenly", () => {
  it("uses the fewest parts of at most max images, as even as possible", () => {
    expect(splitEvenly(32, 8)).toEqual([8, 8, 8, 8]);
    expect(splitEvenly(32, 7)).toEqual([7, 7, 6, 6, 6]);
    expect(splitEvenly(100, 30)).toEqual([25, 25, 25, 25]);
    expect(splitEvenly(5, 100)).toEqual([5]);
    expect(splitEvenly(3, 1)).toEqual([1, 1, 1]);
    expect(() => splitEvenly(0, 4)).toThrow(/n must be a positive integer/);
    expect(() => splitEvenly(4, 0)).toThrow(/max must be a positive integer/);
  });
});

describe("chooseMicroBatchSize", () => {
  const budget = 2048 * MiB;
  it("keeps the whole batch when it fits", () => {
    expect(
      chooseMicroBatchSize(100, { perImageBytes: 10 * MiB, fixedBytes: 100 * MiB, budgetBytes: budget }),
    ).toBe(100);
  });
  it("takes the fewest micro-batches that fit and splits the batch evenly among them", () => {
    // (2048 - 248) / 60 = 30 fit -> 4 micro-batches of 25
    expect(
      chooseMicroBatchSize(100, { perImageBytes: 60 * MiB, fixedBytes: 248 * MiB, budgetBytes: budget }),
    ).toBe(25);
    // 300 at most 70 -> 5 x 60
    const e = { perImageBytes: 20 * MiB, fixedBytes: 648 * MiB, budgetBytes: budget };
    expect(chooseMicroBatchSize(300, e)).toBe(60);
  });
  it("never goes below one image or above the batch", () => {
    expect(chooseMicroBatchSize(100, { perImageBytes: 4096 * MiB, fixedBytes: 0, budgetBytes: budget })).toBe(
      1,
    );
    expect(
      chooseMicroBatchSize(100, { perImageBytes: MiB, fixedBytes: 3000 * MiB, budgetBytes: budget }),
    ).toBe(1);
    expect(chooseMicroBatchSize(8, { perImageBytes: 0, fixedBytes: 0, budgetBytes: budget })).toBe(8);
  });
});

describe("planMicroBatch (cpu backend)", () => {
  beforeAll(async () => {
    await initBackend("cpu");
  });

  it("measures what each image adds with the probe, and fits the batch to the backend's budget", async () => {
    // 1000 floats per image alive at the peak (fill and sum are kernels, which the profile samples).
    const probe = (n: number) =>
      tf.tidy(() => {
        tf.sum(tf.fill([n, 1000], 1));
      });
    const tensorsBefore = tf.memory().numTensors;
    const e = await estimateMemory(probe, 1e9);
    expect(e.perImageBytes).toBe(4000);
    expect(e.budgetBytes).toBe(1e9);
    const plan = await planMicroBatch({ batchSize: 64, configured: null, probe, extraFixedBytes: 123 });
    expect(plan.source).toBe("estimate");
    expect(plan.microBatchSize).toBe(64);
    expect(plan.microBatches).toBe(1);
    expect(plan.estimate?.perImageBytes).toBe(4000);
    expect(plan.estimate?.budgetBytes).toBe((backendMemoryLimit()?.bytes ?? 0) * MEMORY_BUDGET_FRACTION);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it("takes train.microBatchSize as given, capped at the batch and evened out, without probing", async () => {
    let probed = 0;
    const probe = () => {
      probed++;
    };
    expect((await planMicroBatch({ batchSize: 32, configured: 8, probe })).microBatchSize).toBe(8);
    const uneven = await planMicroBatch({ batchSize: 30, configured: 8, probe });
    expect(uneven).toMatchObject({ microBatchSize: 8, microBatches: 4, source: "config" });
    expect((await planMicroBatch({ batchSize: 10, configured: 64, probe })).microBatchSize).toBe(10);
    expect(probed).toBe(0);
  });
});
