import type * as tf from "@tensorflow/tfjs";
import { saveCheckpoint } from "../../checkpoint/index.js";
import { BestTracker } from "../callbacks.js";
import type { BestCheckpoint } from "../types.js";
import type { EpochEnd, HookState, LoopState, TrainingHook } from "./trainingHook.js";

/** Saves the model to `dir` whenever an epoch reaches a new best validation weighted F1 (earliest on ties). */
export class BestCheckpointHook implements TrainingHook {
  readonly tracker: BestTracker;
  /** The kept checkpoint; null until an epoch completed. */
  checkpoint: BestCheckpoint | null;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly dir: string,
    saved?: HookState,
  ) {
    this.tracker = new BestTracker(saved?.best);
    this.checkpoint = saved?.bestCheckpoint ?? null;
  }

  async onEpochEnd(_loop: LoopState, end: EpochEnd): Promise<void> {
    const { epoch, val } = end.metrics;
    if (!this.tracker.update(epoch, val.f1)) return;
    const saved = await saveCheckpoint(this.model, this.dir);
    this.checkpoint = { dir: this.dir, sha256: saved.sha256, sizeBytes: saved.sizeBytes, epoch };
    end.isBest = true;
  }

  stateDict(): HookState {
    return { best: this.tracker.state, bestCheckpoint: this.checkpoint };
  }
}
