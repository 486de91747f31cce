import type { EpochMetrics, ResumeState } from "../types.js";

/**
 * The training loop's own state, shared with every hook (what Lightning's callbacks see of the
 * Trainer). Hooks read it; only `stopped` is theirs to set.
 */
export interface LoopState {
  /** The epoch in progress (1-based); before the first one, the last completed epoch (0 on a fresh run). */
  epoch: number;
  /** The last epoch the loop may run (train.epochs). */
  readonly maxEpochs: number;
  /** Optimizer steps per epoch: the batch count, capped by train.maxBatchesPerEpoch. */
  readonly stepsPerEpoch: number;
  /** Optimizer steps taken so far, over every epoch (and every attempt of a resumed run). */
  globalStep: number;
  /** Every completed epoch, the resumed ones included; the current one is added before onEpochEnd. */
  readonly history: EpochMetrics[];
  /** Set by a hook (early stopping) to end training after the current epoch. */
  stopped: boolean;
}

/** One completed epoch as hooks see it; hooks note what they decided, for the epoch's log line. */
export interface EpochEnd {
  metrics: EpochMetrics;
  /** The epoch is the new best (BestCheckpointHook). */
  isBest?: boolean;
  /** Why training ends after this epoch (EarlyStoppingHook). */
  stopReason?: string;
  /** The learning rate the next epoch starts from, before warm-up (LearningRateHook). */
  nextLr?: number;
}

/** The parts of the resume state that hooks own, under their keys in state.json. */
export type HookState = Partial<Pick<ResumeState, "earlyStopping" | "plateau" | "best" | "bestCheckpoint">>;

/**
 * An object the training loop calls at fixed points (Lightning's Callback). It owns its state;
 * `stateDict` hands it to the resume state after every epoch, and a resumed run gives it back
 * through the hook's constructor. Hooks run in the order they are listed, at every point.
 */
export interface TrainingHook {
  /** Before the first epoch (also on a resume whose loop has nothing left to run). */
  onTrainStart?(loop: LoopState): Promise<void> | void;
  onEpochStart?(loop: LoopState): void;
  /** Before each optimizer step (`batch` counts from 0 in the epoch). Throwing abandons the epoch. */
  onBatchStart?(loop: LoopState, batch: number): void;
  /** After each optimizer step (`batch` is the count of steps done in the epoch). */
  onBatchEnd?(loop: LoopState, batch: number): void;
  /** After validation; the epoch is already in `loop.history`. */
  onEpochEnd?(loop: LoopState, end: EpochEnd): Promise<void> | void;
  /** After the last epoch (not after an error). */
  onTrainEnd?(loop: LoopState): Promise<void> | void;
  /** This hook's part of the resume state (Lightning's state_dict). */
  stateDict?(): HookState;
}
