import type * as tf from "@tensorflow/tfjs";
import { writeResumeState } from "../resume.js";
import type { HookState, LoopState, TrainingHook } from "./trainingHook.js";

/**
 * After every epoch, writes the resume state: model, optimizer moments, the loop's position and
 * every owner hook's state (`stateDict`), so a crashed run continues at the next epoch exactly.
 */
export class ResumeStateHook implements TrainingHook {
  constructor(
    private readonly runDir: string,
    private readonly model: tf.LayersModel,
    private readonly optimizer: tf.Optimizer,
    private readonly configHash: string,
    /** The hooks whose state the resume state holds. */
    private readonly owners: readonly TrainingHook[],
  ) {}

  async onEpochEnd(loop: LoopState): Promise<void> {
    const owned: HookState = {};
    for (const h of this.owners) Object.assign(owned, h.stateDict?.());
    const { earlyStopping, plateau, best, bestCheckpoint } = owned;
    if (!earlyStopping || !plateau || !best || bestCheckpoint === undefined) {
      const missing = ["earlyStopping", "plateau", "best", "bestCheckpoint"].filter(
        (k) => owned[k as keyof HookState] === undefined,
      );
      throw new Error(`resume state: no hook owns ${missing.join(", ")}`);
    }
    await writeResumeState(this.runDir, this.model, this.optimizer, {
      version: 1,
      configHash: this.configHash,
      epoch: loop.epoch,
      globalStep: loop.globalStep,
      earlyStopping,
      plateau,
      best,
      bestCheckpoint,
      stopped: loop.stopped,
      history: loop.history,
    });
  }
}
