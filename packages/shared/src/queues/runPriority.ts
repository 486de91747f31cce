import type { PipelineConfig } from "../config/pipeline.js";
import type { ModelName } from "../models.js";

/**
 * Forward GFLOPs of one 224 px image, per architecture (published figures, rounded). Only their
 * ratios matter: they order the queue, nothing is timed with them.
 */
const GFLOPS_224: Record<ModelName, number> = {
  mobilenet_v2: 0.3,
  resnet18: 1.8,
  resnet50: 4.1,
  convnext_v2_atto: 0.55,
  convnext_v2_tiny: 4.5,
};

/**
 * A run's work in forward-pass units (GFLOP per image x passes), from its config alone: the data set
 * size is the same for every run of a sweep, so it cancels out of the comparison.
 * - FE with cached features: one forward pass over the data (the cache), the head is negligible.
 * - FE otherwise: one forward pass per epoch.
 * - FT / full training: forward plus backward, about three forward passes per epoch ("all") or two
 *   (the last N layers).
 */
export function runCost(config: PipelineConfig): number {
  const m = config.model;
  const width = m.widthMultiplier ?? 1;
  const perImage =
    (GFLOPS_224[m.arch as ModelName] ?? 1) * width * width * (config.data.imageSize / 224) ** 2;
  const epochs = config.train.epochs;
  if (config.stage.kind === "fe")
    return perImage * (config.data.cacheFeatures && !config.data.augment ? 1 : epochs);
  return perImage * epochs * (config.stage.trainableLayers === "all" ? 3 : 2);
}

/** BullMQ's priority range: 1 is served first, 2^21 - 1 last. */
const PRIORITY_MAX = 2 ** 21 - 1;

/**
 * The queue priority of a run whose own work and the work that waits on it (an FE run's FT runs) add
 * up to `pathCost`: the longest chain first (critical-path scheduling), so that no core sits idle at
 * the end of a sweep waiting on one long fine-tuning started last. Log-scaled: a 10x longer chain is
 * always ahead, equal chains keep submission order (BullMQ is FIFO within a priority).
 */
export function runPriority(pathCost: number): number {
  const p = Math.round(1_000_000 - 100_000 * Math.log10(Math.max(pathCost, 1e-6)));
  return Math.min(PRIORITY_MAX, Math.max(1, p));
}
