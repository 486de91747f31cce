import type { ImageBatch } from "../data/loader.js";
import type { EpochEnd, LoopState, TrainingHook } from "./hooks/trainingHook.js";
import type { PhaseProfiler } from "./profile.js";
import type { TrainStep } from "./trainStep.js";
import type { EpochMetrics } from "./types.js";

/** Lets a BullMQ worker in the same process renew its lock between batches. */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What the loop trains and validates: a stage set up for training, seen from the loop. */
export interface EpochSource {
  /** The epoch's training batches, in the order the steps take them. */
  trainBatches(epoch: number): AsyncIterable<ImageBatch> | Iterable<ImageBatch>;
  step: TrainStep;
  /** Validation figures of the model as it is now. */
  validate(epoch: number): Promise<EpochMetrics["val"]>;
  /** The learning rate of the last step, recorded with the epoch. */
  readonly optimizer: { readonly lr: number };
}

/**
 * The training loop: from the epoch after `loop.epoch` up to `loop.maxEpochs`, one optimizer step
 * per batch, then validation, until a hook sets `loop.stopped`. It knows nothing of checkpoints,
 * resume state, learning-rate schedules or reporting: hooks do all of that, in their order.
 */
export async function runEpochs(
  loop: LoopState,
  source: EpochSource,
  hooks: readonly TrainingHook[],
  profiler?: PhaseProfiler,
): Promise<void> {
  const timed = <T>(name: string, fn: () => Promise<T> | T): Promise<T> | T =>
    profiler ? profiler.time(name, fn) : fn();
  const hookName = (h: TrainingHook) => `hook: ${h.constructor.name}`;
  for (const h of hooks) await timed(hookName(h), () => h.onTrainStart?.(loop));
  for (let epoch = loop.epoch + 1; epoch <= loop.maxEpochs && !loop.stopped; epoch++) {
    loop.epoch = epoch;
    const t0 = performance.now();
    for (const h of hooks) h.onEpochStart?.(loop);
    let lossSum = 0;
    let weightSum = 0;
    let correct = 0;
    let seen = 0;
    let batch = 0;
    const epochBatches = source.trainBatches(epoch);
    for await (const b of profiler ? timedBatches(epochBatches, profiler) : epochBatches) {
      if (batch >= loop.stepsPerEpoch) break;
      for (const h of hooks) h.onBatchStart?.(loop, batch);
      const r = await timed("step", () => source.step(b, { epoch, globalStep: loop.globalStep }));
      lossSum += r.weightedLoss;
      weightSum += r.weight;
      correct += r.correct;
      seen += r.images;
      loop.globalStep++;
      batch++;
      for (const h of hooks) h.onBatchEnd?.(loop, batch);
      await yieldToEventLoop();
    }
    if (seen === 0) throw new Error(`epoch ${epoch}: no training images could be read (see skipped files)`);
    const trainSecs = (performance.now() - t0) / 1000;
    const val = await timed("validation", () => source.validate(epoch));
    const metrics: EpochMetrics = {
      epoch,
      lr: source.optimizer.lr,
      train: { loss: lossSum / weightSum, accuracy: correct / seen },
      val,
      durationMs: Math.round(performance.now() - t0),
      imagesPerSec: Number((seen / trainSecs).toFixed(2)),
    };
    loop.history.push(metrics);
    const end: EpochEnd = { metrics };
    for (const h of hooks) await timed(hookName(h), () => h.onEpochEnd?.(loop, end));
  }
  for (const h of hooks) await h.onTrainEnd?.(loop);
}

/** The epoch's batches, with the wait for each (decode and augmentation) added to the profile. */
async function* timedBatches(
  src: AsyncIterable<ImageBatch> | Iterable<ImageBatch>,
  profiler: PhaseProfiler,
): AsyncGenerator<ImageBatch> {
  const it =
    Symbol.asyncIterator in src
      ? src[Symbol.asyncIterator]()
      : (src as Iterable<ImageBatch>)[Symbol.iterator]();
  try {
    for (;;) {
      const t0 = performance.now();
      const r = await it.next();
      profiler.add("data: decode + augment", performance.now() - t0);
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}
