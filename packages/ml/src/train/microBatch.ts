import * as tf from "@tensorflow/tfjs";
import { backendMemoryLimit } from "../backend/initBackend.js";

/**
 * Share of the backend's memory limit a micro-batch may be planned to use. The probe counts only
 * tensors the tfjs engine tracks: kernels' scratch buffers (the wasm conv-gradient kernels build
 * im2col patches), heap fragmentation, and whatever else the process holds are not in it, so half
 * the limit is left for them.
 */
export const MEMORY_BUDGET_FRACTION = 0.5;

/** Micro-batch sizes of `n` images with at most `max` each: the fewest parts, as even as possible. */
export function splitEvenly(n: number, max: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`splitEvenly: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(max) || max < 1)
    throw new Error(`splitEvenly: max must be a positive integer, got ${max}`);
  const parts = Math.ceil(n / max);
  const base = Math.floor(n / parts);
  const larger = n % parts;
  return Array.from({ length: parts }, (_, i) => (i < larger ? base + 1 : base));
}

export interface MemoryEstimate {
  /** Memory that grows with each image of a micro-batch (activations kept for the backward pass). */
  perImageBytes: number;
  /** Memory that does not (weights, optimizer state, gradients). */
  fixedBytes: number;
  /** What the micro-batch may use in all. */
  budgetBytes: number;
}

/**
 * The largest micro-batch the estimate lets fit under the budget, evened out: a batch of 100 that
 * fits 30 at a time runs as 4 x 25, not 30 + 30 + 30 + 10. Never below 1 (a single image that
 * does not fit fails with the heap error) and never above the batch.
 */
export function chooseMicroBatchSize(batchSize: number, e: MemoryEstimate): number {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`chooseMicroBatchSize: batchSize must be a positive integer, got ${batchSize}`);
  if (!(e.perImageBytes > 0)) return batchSize;
  const fits = Math.floor((e.budgetBytes - e.fixedBytes) / e.perImageBytes);
  const max = Math.min(batchSize, Math.max(1, fits));
  return Math.max(...splitEvenly(batchSize, max));
}

/** How a stage's batches are split, and why; logged with the run. */
export interface MicroBatchPlan {
  batchSize: number;
  /** Most images per forward/backward pass. */
  microBatchSize: number;
  /** Micro-batches of a full batch. */
  microBatches: number;
  /** "config": train.microBatchSize; "estimate": measured against the budget; "no limit known": the whole batch. */
  source: "config" | "estimate" | "no limit known";
  estimate?: MemoryEstimate & { limitBytes: number; limitOf: string };
}

/**
 * Peak bytes of tensors alive while `run` executes (including those that existed before), as the
 * tfjs engine counts them. `run` must dispose of what it makes.
 */
async function peakBytes(run: () => void): Promise<number> {
  const info = await tf.profile(() => {
    run();
  });
  return Number.isFinite(info.peakBytes) ? info.peakBytes : tf.memory().numBytes;
}

/**
 * Measures the memory of one pass at 1 and 2 images and extrapolates linearly: the difference is
 * what one image adds, the rest is fixed. `extraFixedBytes` adds what the probe cannot see yet
 * (optimizer slots made on the first step).
 */
export async function estimateMemory(
  probe: (images: number) => void,
  budgetBytes: number,
  extraFixedBytes = 0,
): Promise<MemoryEstimate> {
  const one = await peakBytes(() => probe(1));
  const two = await peakBytes(() => probe(2));
  const perImageBytes = Math.max(0, two - one);
  return { perImageBytes, fixedBytes: one - perImageBytes + extraFixedBytes, budgetBytes };
}

/**
 * The micro-batch for `batchSize`: `configured` when given (capped at the batch), else the largest
 * that the probe's estimate fits under MEMORY_BUDGET_FRACTION of the backend's memory limit; the
 * whole batch where no limit is known. `probe(n)` runs the memory-relevant work on n images and
 * disposes of everything it made; it must leave no other trace (BatchNorm statistics included).
 */
export async function planMicroBatch(o: {
  batchSize: number;
  configured: number | null | undefined;
  probe: (images: number) => void;
  extraFixedBytes?: number;
}): Promise<MicroBatchPlan> {
  const plan = (microBatchSize: number, source: MicroBatchPlan["source"]): MicroBatchPlan => ({
    batchSize: o.batchSize,
    microBatchSize,
    microBatches: Math.ceil(o.batchSize / microBatchSize),
    source,
  });
  if (o.configured != null) {
    const m = Math.min(o.configured, o.batchSize);
    return plan(Math.max(...splitEvenly(o.batchSize, m)), "config");
  }
  const limit = backendMemoryLimit();
  if (!limit) return plan(o.batchSize, "no limit known");
  const e = await estimateMemory(o.probe, limit.bytes * MEMORY_BUDGET_FRACTION, o.extraFixedBytes);
  return {
    ...plan(chooseMicroBatchSize(o.batchSize, e), "estimate"),
    estimate: { ...e, limitBytes: limit.bytes, limitOf: limit.what },
  };
}

/** The plan as a structured log's fields (MiB, rounded). */
export function planFields(p: MicroBatchPlan): Record<string, unknown> {
  const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  return {
    batchSize: p.batchSize,
    microBatchSize: p.microBatchSize,
    microBatches: p.microBatches,
    source: p.source,
    ...(p.estimate
      ? {
          perImageMiB: mib(p.estimate.perImageBytes),
          fixedMiB: mib(p.estimate.fixedBytes),
          budgetMiB: mib(p.estimate.budgetBytes),
          limit: `${p.estimate.limitOf} ${mib(p.estimate.limitBytes)} MiB`,
        }
      : {}),
  };
}
