import { Worker } from "node:worker_threads";
import { StopRequestedError } from "@xnn/shared";
import type { EpochRecord, FinalResults } from "../services/resultsStore";
import type {
  BackendInUse,
  BackendRequest,
  FeaturesReply,
  TrainJobInput,
  TrainJobMessage,
  TrainThreadBoot,
  TrainThreadMessage,
  TrainThreadStatus,
} from "./protocol";
import { GATE_SLOT, STOP_AFTER_EPOCH, STOP_FLAG_BYTES, STOP_NOW, STOP_SLOT } from "./protocol";

/** The data set itself is unusable (missing folder, empty class): retrying cannot help. */
export class DatasetUnusableError extends Error {
  override name = "DatasetUnusableError";
}
/** A training thread never finished loading (it hung at start-up). */
export class ThreadStartTimeoutError extends Error {
  override name = "ThreadStartTimeoutError";
}
/** The backend asked for cannot be initialised on this host: no job can run here. */
export class BackendUnavailableError extends Error {
  override name = "BackendUnavailableError";
}

export type TrainOutcome = Extract<TrainThreadMessage, { type: "done" }>;

export interface TrainHandle {
  /** Ask the trainer to stop at the next batch; `done` then rejects with StopRequestedError and the last epoch checkpoint stays resumable. */
  stop(): void;
  /**
   * Ask the trainer to finish the epoch in progress (validated, checkpointed, reported) and stop
   * then; `done` rejects with StopRequestedError. After the last epoch it changes nothing. A later
   * `stop()` still stops at the next batch.
   */
  stopAfterEpoch(): void;
  /**
   * Let the job go on past `epoch`, one of its `epochGates`: the thread waits there, before the
   * next epoch, until this is called (or stop() is). Make a stopAfterEpoch() request first to end
   * the run at that epoch.
   */
  openGate(epoch: number): void;
  done: Promise<TrainOutcome>;
}

export interface TrainEvents {
  log: (msg: string, fields?: Record<string, unknown>, level?: "info" | "warn") => void;
  epoch: (m: EpochRecord) => void;
  resumed: (epoch: number, history: EpochRecord[]) => void;
  /**
   * The job waits after `epoch`, one of its epochGates (its epoch record came first), until
   * TrainHandle.openGate(epoch). Absent: every gate opens at once.
   */
  gate?: (epoch: number) => void;
  /** Where shared backbone features live (the job's shareFeatures); absent: none are found or kept. */
  features?: SharedFeatureDirs;
}

/** Shared feature entries as local directories (the worker keeps them in the artifact store). */
export interface SharedFeatureDirs {
  get(key: string): Promise<string | null>;
  put(key: string, dir: string): Promise<void>;
}

/** What runs a worker's jobs: one per worker process, started once, used by every job. */
export interface Trainer {
  /** Initialises the backend; resolves with what this worker runs on. */
  start(): Promise<BackendInUse>;
  train(input: TrainJobInput, on: TrainEvents): TrainHandle;
  close(): Promise<void>;
}

type ThreadLog = (msg: string, fields: Record<string, unknown>, level?: "info" | "warn") => void;

/** One long-lived training thread: it initialises the backend once, then runs one job at a time. */
class TrainingThread {
  private readonly worker: Worker;
  readonly ready: Promise<Extract<TrainThreadStatus, { type: "ready" }>>;
  private job: { on: TrainEvents; resolve: (o: TrainOutcome) => void; reject: (e: Error) => void } | null =
    null;
  alive = true;

  constructor(
    boot: TrainThreadBoot,
    onExit: (t: TrainingThread, code: number) => void,
    log: ThreadLog,
    startTimeoutMs: number,
  ) {
    this.worker = new Worker(new URL("./boot.mjs", import.meta.url), { workerData: boot });
    // An idle thread must not keep the process alive; a thread with a job does (see run).
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      // Seen in the chaos benchmark: a thread that hangs while loading its modules never says
      // ready, and the run it was given sat "running" on a live worker. It is ended instead, and
      // the error goes to whoever waits for it (worker start-up, or the job's attempt).
      const watchdog = setTimeout(() => {
        reject(
          new ThreadStartTimeoutError(
            `training thread did not start within ${startTimeoutMs / 1000} s; ended`,
          ),
        );
        void this.terminate();
      }, startTimeoutMs);
      watchdog.unref();
      this.worker.on("message", (m: TrainThreadMessage | TrainThreadStatus) => {
        if (m.type === "ready" || m.type === "init-failed") clearTimeout(watchdog);
        if (m.type === "ready") resolve(m);
        else if (m.type === "init-failed") reject(new BackendUnavailableError(m.message));
        else this.onJobMessage(m, log);
      });
      this.worker.on("error", (err) => {
        reject(err);
        this.job?.reject(err);
        this.job = null;
      });
      this.worker.on("exit", (code) => {
        this.alive = false;
        reject(new Error(`training thread exited with code ${code} before its backend was ready`));
        this.job?.reject(new Error(`training thread exited with code ${code} before finishing`));
        this.job = null;
        onExit(this, code);
      });
    });
    // Rejections are read through `ready` by whoever runs a job; never unhandled.
    this.ready.catch(() => {});
  }

  private onJobMessage(m: TrainThreadMessage, log: ThreadLog): void {
    const job = this.job;
    if (!job) {
      if (m.type === "log") log(m.msg, m.fields ?? {}, m.level);
      return;
    }
    if (m.type === "log") job.on.log(m.msg, m.fields, m.level);
    else if (m.type === "epoch") job.on.epoch(m.metrics);
    else if (m.type === "resumed") job.on.resumed(m.epoch, m.history);
    else if (m.type === "gate") job.on.gate?.(m.epoch);
    else if (m.type === "features") void this.answerFeatures(m, job.on.features);
    else {
      this.job = null;
      this.worker.unref();
      if (m.type === "done") job.resolve(m);
      else {
        const Err =
          m.kind === "stop-requested"
            ? StopRequestedError
            : m.kind === "dataset"
              ? DatasetUnusableError
              : Error;
        const err = new Err(m.message);
        if (m.stack) err.stack = m.stack;
        job.reject(err);
      }
    }
  }

  private async answerFeatures(
    m: Extract<TrainThreadMessage, { type: "features" }>,
    dirs: SharedFeatureDirs | undefined,
  ): Promise<void> {
    let reply: FeaturesReply;
    try {
      if (m.op === "get")
        reply = { type: "features-reply", id: m.id, dir: dirs ? await dirs.get(m.key) : null };
      else {
        if (dirs && m.dir) await dirs.put(m.key, m.dir);
        reply = { type: "features-reply", id: m.id, dir: null };
      }
    } catch (err) {
      reply = { type: "features-reply", id: m.id, dir: null, error: (err as Error).message };
    }
    if (this.alive) this.worker.postMessage(reply);
  }

  run(input: TrainJobInput, stopFlag: SharedArrayBuffer, on: TrainEvents): Promise<TrainOutcome> {
    if (this.job) throw new Error("training thread is busy");
    if (!this.alive) return Promise.reject(new Error("training thread is gone"));
    return new Promise((resolve, reject) => {
      this.job = { on, resolve, reject };
      this.worker.ref();
      this.worker.postMessage({ type: "job", input, stopFlag } satisfies TrainJobMessage);
    });
  }

  get busy(): boolean {
    return this.job !== null;
  }

  async terminate(): Promise<void> {
    this.alive = false;
    await this.worker.terminate();
  }
}

/**
 * Trains in long-lived worker threads, at most one job per thread at a time. The backend is
 * initialised once per thread, not per job: a native addon (tfjs-node) cannot be loaded again in
 * a fresh thread ("Module did not self-register", tensorflow/tfjs#2079), and libtensorflow's
 * start-up is seconds of every job otherwise. BullMQ's concurrency bounds how many run at once,
 * so the pool grows to at most that many threads. A thread that failed a job or died is replaced
 * by a new one for the next job: its backend may be unusable (a wasm abort leaves the module dead).
 */
export class ThreadTrainer implements Trainer {
  private readonly idle: TrainingThread[] = [];
  private readonly threads = new Set<TrainingThread>();
  private closed = false;

  constructor(
    private readonly backend: BackendRequest,
    private readonly log: ThreadLog = () => {},
    /** How long a new thread may take to load and initialise its backend before it is ended. */
    private readonly startTimeoutMs = 120_000,
  ) {}

  private spawn(): TrainingThread {
    const t = new TrainingThread(
      { backend: this.backend },
      (dead, code) => {
        this.threads.delete(dead);
        const i = this.idle.indexOf(dead);
        if (i >= 0) this.idle.splice(i, 1);
        if (!this.closed) this.log("training thread exited", { code }, "warn");
      },
      this.log,
      this.startTimeoutMs,
    );
    this.threads.add(t);
    return t;
  }

  async start(): Promise<BackendInUse & { threadId: number }> {
    const t = this.idle[0] ?? this.spawn();
    if (!this.idle.includes(t)) this.idle.push(t);
    const { backend, device, reason, threadId } = await t.ready;
    return { backend, device, reason, threadId };
  }

  /** Ends every thread that is running a job, as a crash would (a test's way to kill one). */
  async killBusyThreads(): Promise<void> {
    await Promise.all([...this.threads].filter((t) => t.busy).map((t) => t.terminate()));
  }

  train(input: TrainJobInput, on: TrainEvents): TrainHandle {
    const stopFlag = new SharedArrayBuffer(STOP_FLAG_BYTES);
    const done = (async () => {
      if (this.closed) throw new Error("trainer is closed");
      const t = this.idle.pop() ?? this.spawn();
      try {
        await t.ready;
        const outcome = await t.run(
          input,
          stopFlag,
          on.gate ? on : { ...on, gate: (e) => handle.openGate(e) },
        );
        this.idle.push(t);
        return outcome;
      } catch (err) {
        const reusable =
          t.alive && (err instanceof StopRequestedError || err instanceof DatasetUnusableError);
        if (reusable) this.idle.push(t);
        else if (t.alive) {
          this.threads.delete(t);
          void t.terminate();
          this.log("training thread replaced after a failed job", { err: (err as Error).message }, "warn");
        }
        throw err;
      }
    })();
    const flag = new Int32Array(stopFlag);
    const handle: TrainHandle = {
      stop: () => {
        Atomics.store(flag, STOP_SLOT, STOP_NOW);
        // A thread waiting at a gate wakes and stops at its next batch.
        Atomics.notify(flag, GATE_SLOT);
      },
      // Never weakens a stop-now request already made.
      stopAfterEpoch: () => void Atomics.compareExchange(flag, STOP_SLOT, 0, STOP_AFTER_EPOCH),
      openGate: (epoch) => {
        if (Atomics.load(flag, GATE_SLOT) < epoch) Atomics.store(flag, GATE_SLOT, epoch);
        Atomics.notify(flag, GATE_SLOT);
      },
      done,
    };
    return handle;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.threads].map((t) => t.terminate()));
    this.threads.clear();
    this.idle.length = 0;
  }
}

export type { FinalResults };
