import { StopRequestedError } from "@xnn/shared";
import type { TrainLog } from "../types.js";
import type { LoopState, TrainingHook } from "./trainingHook.js";

/** The ways a caller can ask a run to stop; the requests are polled, never pushed. */
export interface StopRequests {
  /** Stop before the next optimizer step (cancel, shutdown): the epoch in progress is dropped. */
  now?: () => boolean;
  /** Stop once the epoch in progress has ended (prune): it is validated, checkpointed and reported first. */
  afterEpoch?: () => boolean;
  /**
   * Awaited after an epoch was checkpointed and reported, before the next one starts (on a resume,
   * before the first epoch of the attempt, for the resumed one): a caller that must decide whether
   * the run goes on (a sweep's rung) decides here and makes its `afterEpoch` request before it
   * resolves, so the run trains no epoch past it. Not awaited after the last epoch or once a hook
   * stopped training (early stopping).
   */
  epochGate?: (epoch: number) => Promise<void>;
}

/** Logged once, when a stop-after-epoch request is first seen; fields `epoch`, `batch`, `steps`. */
export const STOP_AFTER_EPOCH_SEEN = "stop requested: finishing the epoch in progress first";

/**
 * Ends training on request with StopRequestedError; the last completed epoch's resume state stays
 * in place. A `now` request is polled before every optimizer step and abandons the epoch. An
 * `afterEpoch` request is polled there too (to log where it was seen) and at the end of the epoch,
 * after the epoch gate, where it stops training: list this hook last, so that every other hook has
 * saved the epoch's checkpoint and resume state and reported it by then.
 */
export class StopRequestHook implements TrainingHook {
  /** Where the stop-after-epoch request was first seen; null until it is. */
  private seen: { epoch: number; batch: number } | null = null;

  constructor(
    private readonly requests: StopRequests,
    private readonly log?: TrainLog,
  ) {}

  async onTrainStart(loop: LoopState): Promise<void> {
    // A resumed attempt: the previous one may have died while its last epoch's gate was deciding.
    if (loop.epoch === 0 || loop.epoch >= loop.maxEpochs || loop.stopped) return;
    await this.endOfEpoch(loop, loop.stepsPerEpoch);
  }

  onBatchStart(loop: LoopState, batch: number): void {
    if (this.requests.now?.())
      throw new StopRequestedError(`training stopped on request during epoch ${loop.epoch}`);
    this.look(loop, batch);
  }

  async onEpochEnd(loop: LoopState): Promise<void> {
    await this.endOfEpoch(loop, loop.stepsPerEpoch);
  }

  private async endOfEpoch(loop: LoopState, batch: number): Promise<void> {
    if (this.requests.epochGate && !loop.stopped && loop.epoch < loop.maxEpochs)
      await this.requests.epochGate(loop.epoch);
    this.look(loop, batch);
    if (this.seen) throw new StopRequestedError(`training stopped on request after epoch ${loop.epoch}`);
  }

  private look(loop: LoopState, batch: number): void {
    if (this.seen || !this.requests.afterEpoch?.()) return;
    this.seen = { epoch: loop.epoch, batch };
    this.log?.(STOP_AFTER_EPOCH_SEEN, { epoch: loop.epoch, batch, steps: loop.stepsPerEpoch });
  }
}
