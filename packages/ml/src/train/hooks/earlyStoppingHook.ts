import { EarlyStopping } from "../callbacks.js";
import type { EpochEnd, HookState, LoopState, TrainingHook } from "./trainingHook.js";

/** Ends training once the validation loss has not improved for `patience` epochs in a row (train.earlyStopping). */
export class EarlyStoppingHook implements TrainingHook {
  readonly rule: EarlyStopping;

  constructor(patience: number, saved?: HookState) {
    this.rule = new EarlyStopping(patience, 0, saved?.earlyStopping);
  }

  onEpochEnd(loop: LoopState, end: EpochEnd): void {
    if (this.rule.update(end.metrics.val.loss)) {
      loop.stopped = true;
      end.stopReason = `val loss did not improve for ${this.rule.patience} epochs`;
    }
  }

  stateDict(): HookState {
    return { earlyStopping: this.rule.state };
  }
}
