import type { EpochRecord, PredictionRecord } from "@xnn/shared/records";
import type { SkippedImage } from "../data/loader.js";
import type { Evaluation } from "../metrics/evaluate.js";
import type { BestTrackerState, EarlyStoppingState, PlateauState } from "./callbacks.js";
import type { TrainingHook } from "./hooks/trainingHook.js";
import type { PhaseProfiler } from "./profile.js";
import type { FeatureStore } from "./sharedFeatures.js";

/** One epoch's figures; the record is defined in packages/shared (it is stored and served). */
export type EpochMetrics = EpochRecord;

export interface BestCheckpoint {
  /** Absolute path of the directory holding model.json + weights.bin + manifest.json. */
  dir: string;
  /** sha256 over model.json bytes followed by weights.bin bytes (see checkpoint/manifest.json). */
  sha256: string;
  sizeBytes: number;
  epoch: number;
}

/** One test image's prediction (path relative to the data set root); defined in packages/shared. */
export type Prediction = PredictionRecord;

export interface TrainResult {
  bestEpoch: number;
  bestValF1: number;
  epochsRun: number;
  stoppedEarly: boolean;
  history: EpochMetrics[];
  /** Test split, evaluated with the best-val-F1 checkpoint. */
  test: Evaluation;
  predictions: Prediction[];
  bestCheckpoint: BestCheckpoint;
  /** Unreadable images skipped in any split, deduplicated by path. */
  skipped: SkippedImage[];
  classNames: string[];
  backend: string;
  /** Whether the head was trained on cached backbone features. */
  cachedFeatures: boolean;
  /** Most images per forward/backward pass of a training step (train.microBatchSize or estimated). */
  microBatchSize: number;
  durationMs: number;
}

/**
 * Everything needed to continue a crashed run at the next epoch. Written atomically after every
 * epoch into `<runDir>/resume/state.json` next to the model and optimizer state; read it back with
 * `readResumeState(runDir)`.
 */
export interface ResumeState {
  version: 1;
  /** Hash of the pipeline config the state belongs to; resuming under another config is refused. */
  configHash: string;
  /** Last completed epoch (1-based); training continues at epoch + 1. */
  epoch: number;
  /** Optimizer steps taken so far (drives warm-up). */
  globalStep: number;
  earlyStopping: EarlyStoppingState;
  plateau: PlateauState;
  best: BestTrackerState;
  bestCheckpoint: BestCheckpoint | null;
  /** True once early stopping fired: a resume goes straight to the test evaluation. */
  stopped: boolean;
  history: EpochMetrics[];
  /**
   * Last epoch whose onEpoch callback completed. Epochs after it but <= `epoch` are replayed to
   * onEpoch on resume, so every epoch reaches the caller once even if the crash came in between.
   */
  reportedThrough: number;
  /** Absolute path of the resume directory this state was read from. */
  dir: string;
}

export type TrainLog = (msg: string, fields?: Record<string, unknown>, level?: "info" | "warn") => void;

export interface TrainOptions {
  runDir: string;
  /** FE checkpoint directory whose weights start an FT run (copied by layer name). */
  initFrom?: string;
  resumeFrom?: ResumeState;
  /**
   * The fingerprint resume state is written and checked under. A worker passes `configHash` of the
   * config as submitted, before its paths were made local to the host (an s3:// data set in this
   * host's cache folder, say), so that a run moved to another host resumes. Default:
   * `configHash(config)`.
   */
  configHash?: string;
  /** Every epoch record, once, in order (a resumed run first replays the ones never reported). */
  onEpoch?: (m: EpochMetrics) => Promise<void> | void;
  onBatch?: (i: number, n: number) => void;
  /** Polled between batches; returning true aborts with StopRequestedError (the last epoch checkpoint stays resumable). */
  shouldStop?: () => boolean;
  /**
   * Polled between batches and at each epoch's end; once true, the epoch in progress is finished
   * (validated, checkpointed, its resume state written, reported) and training then ends with
   * StopRequestedError. How a pruned run stops; a request that comes after the last epoch changes
   * nothing.
   */
  stopAfterEpoch?: () => boolean;
  /**
   * Awaited after each epoch was checkpointed and reported, before the next starts (and on a resume
   * before the first epoch of the attempt): where a caller decides whether the run goes on (a
   * sweep's rung, judged by its early-termination rule) and, to stop it there, makes the
   * `stopAfterEpoch` request before it resolves. Not awaited after the last epoch.
   */
  epochGate?: (epoch: number) => Promise<void>;
  /**
   * Backbone features of earlier runs (an FE run with cached features looks its feature pass up
   * there, and leaves its own for later runs); absent: every run computes its own.
   */
  featureStore?: FeatureStore;
  /** More hooks, called after the built-in ones (before the stop-request hook) at every point of the loop. */
  hooks?: TrainingHook[];
  /** Where the time goes, for `pnpm bench profile`; off when absent. */
  profiler?: PhaseProfiler;
  log: TrainLog;
}
