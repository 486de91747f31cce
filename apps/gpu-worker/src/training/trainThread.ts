import { parentPort, threadId, workerData } from "node:worker_threads";
import { backendInitCount, DatasetError, initBackend, readResumeState, runPipeline, tf } from "@xnn/ml";
import { StopRequestedError } from "@xnn/shared";
import type {
  TrainJobInput,
  TrainJobMessage,
  TrainThreadBoot,
  TrainThreadMessage,
  TrainThreadStatus,
} from "./protocol";
import { STOP_AFTER_EPOCH, STOP_NOW } from "./protocol";

// The worker process's long-lived training thread. It initialises the backend once (a native
// addon such as tfjs-node cannot be loaded again in a fresh thread per job) and then runs jobs one
// at a time, off the main thread, so the worker's event loop stays free to renew BullMQ locks,
// send heartbeats and write results while a batch computes.
const boot = workerData as TrainThreadBoot;
const post = (m: TrainThreadMessage | TrainThreadStatus) => parentPort!.postMessage(m);

async function runJob({ input, stopFlag }: TrainJobMessage): Promise<void> {
  const stop = new Int32Array(stopFlag);
  const stops = {
    now: () => Atomics.load(stop, 0) === STOP_NOW,
    afterEpoch: () => Atomics.load(stop, 0) === STOP_AFTER_EPOCH,
  };
  const tensorsBefore = tf.memory().numTensors;
  let last: TrainThreadMessage;
  try {
    last = await runJobIn(input, stops);
  } catch (err) {
    const e = err as Error;
    const kind =
      err instanceof StopRequestedError
        ? "stop-requested"
        : err instanceof DatasetError
          ? "dataset"
          : "other";
    last = { type: "error", kind, message: e.message, stack: e.stack };
  }
  // Jobs share this thread's backend: a leak would grow until it runs out of memory.
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked > 0)
    post({ type: "log", level: "warn", msg: "tensors left over after the job", fields: { leaked } });
  post(last);
}

async function runJobIn(
  input: TrainJobInput,
  stops: { now: () => boolean; afterEpoch: () => boolean },
): Promise<TrainThreadMessage> {
  let resumeFrom = (await readResumeState(input.runDir)) ?? undefined;
  if (resumeFrom && resumeFrom.configHash !== input.resumeHash) {
    post({
      type: "log",
      msg: "ignoring resume state written for another config",
      fields: { dir: resumeFrom.dir },
    });
    resumeFrom = undefined;
  }
  if (resumeFrom) post({ type: "resumed", epoch: resumeFrom.epoch, history: resumeFrom.history });

  const result = await runPipeline(input.config, {
    runDir: input.runDir,
    initFrom: input.initFrom ?? undefined,
    resumeFrom,
    configHash: input.resumeHash,
    onEpoch: (metrics) => post({ type: "epoch", metrics }),
    shouldStop: stops.now,
    stopAfterEpoch: stops.afterEpoch,
    log: (msg, fields, level) => post({ type: "log", msg, fields, ...(level ? { level } : {}) }),
  });
  return {
    type: "done",
    backend: result.backend,
    initCount: backendInitCount(),
    threadId,
    skipped: result.skipped.map((s) => ({ path: s.path, reason: s.reason })),
    result: {
      bestEpoch: result.bestEpoch,
      bestValF1: result.bestValF1,
      epochsRun: result.epochsRun,
      history: result.history,
      predictions: result.predictions,
      test: result.test,
      explanation: result.explanation,
      checkpointDir: result.bestCheckpoint.dir,
      checkpoint: {
        sha256: result.bestCheckpoint.sha256,
        sizeBytes: result.bestCheckpoint.sizeBytes,
        epoch: result.bestCheckpoint.epoch,
      },
    },
  };
}

try {
  const choice = await initBackend(boot.backend);
  post({ type: "ready", initCount: backendInitCount(), threadId, ...choice });
} catch (err) {
  post({ type: "init-failed", message: (err as Error).message });
  process.exit(1);
}
parentPort!.on("message", (m: TrainJobMessage) => {
  void runJob(m);
});
