import { type PlateauOptions, ReduceLROnPlateau, warmupFactor } from "../callbacks.js";
import type { EpochEnd, HookState, LoopState, TrainingHook } from "./trainingHook.js";

/**
 * Owns the learning rate: linear warm-up over the first `warmupEpochs` epochs of steps, times the
 * rate ReduceLROnPlateau keeps on the validation loss (train.plateau). Sets it on the optimizer
 * before every step.
 */
export class LearningRateHook implements TrainingHook {
  readonly plateau: ReduceLROnPlateau;

  constructor(
    private readonly optimizer: { lr: number },
    initialLr: number,
    plateau: PlateauOptions,
    private readonly warmupEpochs: number,
    saved?: HookState,
  ) {
    this.plateau = new ReduceLROnPlateau(initialLr, plateau, saved?.plateau);
  }

  onBatchStart(loop: LoopState): void {
    const warmupSteps = this.warmupEpochs * loop.stepsPerEpoch;
    this.optimizer.lr = this.plateau.state.lr * warmupFactor(loop.globalStep, warmupSteps);
  }

  onEpochEnd(_loop: LoopState, end: EpochEnd): void {
    end.nextLr = this.plateau.step(end.metrics.val.loss);
  }

  stateDict(): HookState {
    return { plateau: this.plateau.state };
  }
}
