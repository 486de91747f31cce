import type { TrainLog } from "../types.js";
import type { EpochEnd, LoopState, TrainingHook } from "./trainingHook.js";

/** One log line per epoch: its figures and what the other hooks decided (best epoch, early stop, next learning rate). */
export class EpochLogHook implements TrainingHook {
  constructor(private readonly log: TrainLog) {}

  onEpochEnd(loop: LoopState, end: EpochEnd): void {
    const m = end.metrics;
    this.log(`epoch ${m.epoch}/${loop.maxEpochs}`, {
      lr: m.lr,
      trainLoss: Number(m.train.loss.toFixed(4)),
      trainAcc: Number(m.train.accuracy.toFixed(4)),
      valLoss: Number(m.val.loss.toFixed(4)),
      valAcc: Number(m.val.accuracy.toFixed(4)),
      valF1: Number(m.val.f1.toFixed(4)),
      best: end.isBest === true,
      seconds: Number((m.durationMs / 1000).toFixed(1)),
      imagesPerSec: m.imagesPerSec,
      ...(end.stopReason ? { earlyStop: end.stopReason } : {}),
      ...(end.nextLr !== undefined && end.nextLr !== m.lr && !loop.stopped ? { nextLr: end.nextLr } : {}),
    });
  }
}
