import type { BackendKind, PipelineConfig } from "@xnn/shared";
import type { EpochRecord, FinalResults } from "../services/resultsStore";

export type BackendRequest = BackendKind;

/** workerData of a training thread: it initialises this backend once, then takes jobs. */
export interface TrainThreadBoot {
  backend: BackendRequest;
}

/** One job for a training thread. */
export interface TrainJobInput {
  /** The run's config with its paths made local to this host (see localRunConfig). */
  config: PipelineConfig;
  /**
   * What resume state is written and checked under: `configHash` of the config as submitted, the
   * same on every host, so a run moved to a host with another cache folder resumes.
   */
  resumeHash: string;
  runDir: string;
  initFrom: string | null;
  /**
   * Epochs after which the thread waits, before it starts the next, until the parent opens the
   * gate (TrainHandle.openGate): the sweep's rungs for this run, where the parent asks the
   * early-termination rule whether it goes on. Absent or empty: no waiting.
   */
  epochGates?: number[];
  /**
   * Look the FE feature pass up among earlier runs' and leave this one's for later runs (the
   * parent's TrainEvents.features answers); absent or false: every run computes its own.
   */
  shareFeatures?: boolean;
}

/** Parent -> thread: the answer to a `features` request. */
export interface FeaturesReply {
  type: "features-reply";
  id: number;
  /** get: the local directory of the entry, or null when there is none. */
  dir: string | null;
  error?: string;
}

/** Parent -> thread. */
export interface TrainJobMessage {
  type: "job";
  input: TrainJobInput;
  /**
   * Int32Array over it: index STOP_SLOT holds 0 (train on), STOP_NOW or STOP_AFTER_EPOCH; index
   * GATE_SLOT the last epoch whose gate the parent opened.
   */
  stopFlag: SharedArrayBuffer;
}

export const STOP_SLOT = 0;
export const GATE_SLOT = 1;
/** Bytes of a job's stop flag: two Int32 slots. */
export const STOP_FLAG_BYTES = 8;

/** Stop flag: stop at the next batch, dropping the epoch in progress (cancel, shutdown, lost lease). */
export const STOP_NOW = 1;
/** Stop flag: finish the epoch in progress (validated, checkpointed, reported), then stop (prune). */
export const STOP_AFTER_EPOCH = 2;

/** What the thread's backend runs on; the worker registry records it. */
export interface BackendInUse {
  backend: string;
  device: "gpu" | "cpu";
  reason: string;
}

/** Thread -> parent, before any job: the backend is initialised (or could not be). */
export type TrainThreadStatus =
  | ({ type: "ready"; initCount: number; threadId: number } & BackendInUse)
  | { type: "init-failed"; message: string };

/** Thread -> parent, during and at the end of a job. */
export type TrainThreadMessage =
  | { type: "log"; msg: string; fields?: Record<string, unknown>; level?: "info" | "warn" }
  | { type: "resumed"; epoch: number; history: EpochRecord[] }
  | { type: "epoch"; metrics: EpochRecord }
  /** Waiting after this epoch (one of the job's epochGates) until the parent opens its gate. */
  | { type: "gate"; epoch: number }
  /** A shared feature entry: fetch the one under `key`, or keep the one written in `dir`. Answered by a FeaturesReply. */
  | { type: "features"; id: number; op: "get" | "put"; key: string; dir?: string }
  | {
      type: "done";
      result: Omit<FinalResults, "checkpoint"> & {
        /** null: the trainer wrote no checkpoint file (the benchmarks' no-op trainer); nothing to upload. */
        checkpointDir: string | null;
        checkpoint: Omit<FinalResults["checkpoint"], "uri">;
      };
      skipped: { path: string; reason: string }[];
      backend: string;
      /** Backend initialisations in this thread so far: 1 for a thread that ran any number of jobs. */
      initCount: number;
      /** The thread that ran the job: the same one for every job until it fails or dies. */
      threadId: number;
    }
  | {
      type: "error";
      /** "stop-requested": the job ended on a StopRequestedError (the trainer rejects with it again). */
      kind: "stop-requested" | "dataset" | "other";
      message: string;
      stack?: string;
    };
