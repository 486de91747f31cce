import { StopRequestedError } from "@xnn/shared";
import type { LoopState, TrainingHook } from "./trainingHook.js";

/**
 * Polls `shouldStop` before every optimizer step and abandons the epoch with StopRequestedError
 * when it says so; the last completed epoch's resume state stays in place.
 */
export class StopRequestHook implements TrainingHook {
  constructor(private readonly shouldStop: () => boolean) {}

  onBatchStart(loop: LoopState): void {
    if (this.shouldStop())
      throw new StopRequestedError(`training stopped on request during epoch ${loop.epoch}`);
  }
}
