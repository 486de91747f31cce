import { markReported } from "../resume.js";
import type { EpochMetrics } from "../types.js";
import type { EpochEnd, LoopState, TrainingHook } from "./trainingHook.js";

export interface ProgressReceiver {
  onEpoch?: (m: EpochMetrics) => Promise<void> | void;
  onBatch?: (done: number, steps: number) => void;
}

/**
 * Hands every epoch record to the caller exactly once, across crashes: each one is marked reported
 * (next to the resume state) after the caller took it, and a resumed run first replays the
 * epochs that were completed but never reported.
 */
export class ProgressHook implements TrainingHook {
  constructor(
    private readonly runDir: string,
    private readonly receiver: ProgressReceiver,
    /** The last epoch the caller took (the resume state's reportedThrough); 0 on a fresh run. */
    private reportedThrough = 0,
  ) {}

  async onTrainStart(loop: LoopState): Promise<void> {
    for (const m of loop.history.filter((h) => h.epoch > this.reportedThrough)) await this.report(m);
  }

  onBatchEnd(loop: LoopState, batch: number): void {
    this.receiver.onBatch?.(batch, loop.stepsPerEpoch);
  }

  async onEpochEnd(_loop: LoopState, end: EpochEnd): Promise<void> {
    await this.report(end.metrics);
  }

  private async report(m: EpochMetrics): Promise<void> {
    await this.receiver.onEpoch?.(m);
    await markReported(this.runDir, m.epoch);
    this.reportedThrough = m.epoch;
  }
}
