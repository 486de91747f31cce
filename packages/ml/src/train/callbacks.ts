/**
 * Training-control rules as plain state machines: each takes one epoch's metric and returns a
 * decision, and its whole state is a JSON object, so a crashed run resumes with exactly the same
 * patience counters it had (the per-epoch resume state stores these states). The training hooks
 * own one each (EarlyStoppingHook, LearningRateHook, BestCheckpointHook in hooks/).
 */

export interface EarlyStoppingState {
  best: number;
  wait: number;
  stopped: boolean;
}

/**
 * Lightning's EarlyStopping(monitor="val_loss", mode="min", min_delta=0): an epoch improves when
 * loss < best - minDelta; training stops once `patience` epochs in a row did not improve. A
 * non-finite loss stops at once (Lightning's check_finite).
 */
export class EarlyStopping {
  state: EarlyStoppingState;

  constructor(
    readonly patience: number,
    readonly minDelta = 0,
    state?: EarlyStoppingState,
  ) {
    if (!Number.isInteger(patience) || patience < 1)
      throw new RangeError(`patience must be a positive integer, got ${patience}`);
    if (!(minDelta >= 0)) throw new RangeError(`minDelta must be >= 0, got ${minDelta}`);
    this.state = state ? { ...state } : { best: Number.POSITIVE_INFINITY, wait: 0, stopped: false };
  }

  /** Returns true when training should stop after this epoch. */
  update(valLoss: number): boolean {
    const s = this.state;
    if (!Number.isFinite(valLoss)) {
      s.stopped = true;
      return true;
    }
    if (valLoss + this.minDelta < s.best) {
      s.best = valLoss;
      s.wait = 0;
    } else {
      s.wait++;
      if (s.wait >= this.patience) s.stopped = true;
    }
    return s.stopped;
  }
}

export interface PlateauState {
  lr: number;
  best: number;
  numBadEpochs: number;
  cooldownCounter: number;
  reductions: number;
}

export interface PlateauOptions {
  factor: number;
  patience: number;
  minLr: number;
  /** Relative threshold (PyTorch threshold_mode="rel"). Default 1e-4 as in PyTorch. */
  threshold?: number;
  cooldown?: number;
  /** Reductions smaller than this are ignored (PyTorch eps). */
  eps?: number;
}

/**
 * torch.optim.lr_scheduler.ReduceLROnPlateau(mode="min", threshold_mode="rel"): better means
 * metric < best * (1 - threshold); after more than `patience` bad epochs, lr <- max(lr * factor, minLr)
 * unless that changes lr by less than eps. Holds the (pre-warm-up) learning rate itself.
 */
export class ReduceLROnPlateau {
  state: PlateauState;
  readonly factor: number;
  readonly patience: number;
  readonly minLr: number;
  readonly threshold: number;
  readonly cooldown: number;
  readonly eps: number;

  constructor(initialLr: number, opts: PlateauOptions, state?: PlateauState) {
    if (!(opts.factor > 0 && opts.factor < 1))
      throw new RangeError(`factor must be in (0, 1), got ${opts.factor}`);
    if (!Number.isInteger(opts.patience) || opts.patience < 0)
      throw new RangeError(`patience must be an integer >= 0`);
    this.factor = opts.factor;
    this.patience = opts.patience;
    this.minLr = opts.minLr;
    this.threshold = opts.threshold ?? 1e-4;
    this.cooldown = opts.cooldown ?? 0;
    this.eps = opts.eps ?? 1e-8;
    this.state = state
      ? { ...state }
      : { lr: initialLr, best: Number.POSITIVE_INFINITY, numBadEpochs: 0, cooldownCounter: 0, reductions: 0 };
  }

  /** Feeds one epoch's monitored value; returns the learning rate to use from now on. */
  step(metric: number): number {
    const s = this.state;
    // NaN compares false, so a NaN epoch counts as bad, as in PyTorch.
    if (metric < s.best * (1 - this.threshold)) {
      s.best = metric;
      s.numBadEpochs = 0;
    } else {
      s.numBadEpochs++;
    }
    if (s.cooldownCounter > 0) {
      s.cooldownCounter--;
      s.numBadEpochs = 0;
    }
    if (s.numBadEpochs > this.patience) {
      const next = Math.max(s.lr * this.factor, this.minLr);
      if (s.lr - next > this.eps) {
        s.lr = next;
        s.reductions++;
      }
      s.cooldownCounter = this.cooldown;
      s.numBadEpochs = 0;
    }
    return s.lr;
  }
}

export interface BestTrackerState {
  bestEpoch: number;
  bestValue: number;
}

/**
 * Lightning ModelCheckpoint(monitor="val_f1", mode="max", save_top_k=1): a strictly higher value
 * replaces the kept checkpoint, so on ties the earliest epoch wins; NaN never does.
 */
export class BestTracker {
  state: BestTrackerState;

  constructor(state?: BestTrackerState) {
    this.state = state ? { ...state } : { bestEpoch: -1, bestValue: Number.NEGATIVE_INFINITY };
  }

  /** Returns true when this epoch is the new best (the caller then saves the checkpoint). */
  update(epoch: number, value: number): boolean {
    if (value > this.state.bestValue) {
      this.state.bestValue = value;
      this.state.bestEpoch = epoch;
      return true;
    }
    return false;
  }
}

/**
 * Linear warm-up over the first `warmupSteps` optimizer steps: step s (0-based) uses
 * lr * (s + 1) / warmupSteps, so the first update is already non-zero.
 */
export function warmupFactor(step: number, warmupSteps: number): number {
  if (warmupSteps <= 0 || step >= warmupSteps) return 1;
  return (step + 1) / warmupSteps;
}
