import { parentPort, threadId, workerData } from "node:worker_threads";
import {
  backendInitCount,
  configHash,
  DatasetError,
  type ExplanationQuality,
  initBackend,
  qualityLogFields,
  readResumeState,
  runExplanationQuality,
  tf,
  trainPipeline,
} from "@xnn/ml";
import { StopRequestedError } from "@xnn/shared";
import type {
  TrainJobInput,
  TrainJobMessage,
  TrainThreadBoot,
  TrainThreadMessage,
  TrainThreadStatus,
} from "./protocol";

// The worker process's long-lived training thread. It initialises the backend once (a native
// addon such as tfjs-node cannot be loaded again in a fresh thread per job) and then runs jobs one
// at a time, off the main thread, so the worker's event loop stays free to renew BullMQ locks,
// send heartbeats and write results while a batch computes.
const boot = workerData as TrainThreadBoot;
const post = (m: TrainThreadMessage | TrainThreadStatus) => parentPort!.postMessage(m);

/**
 * Explanation quality of the best checkpoint (reloaded from disk, as the test evaluation is), on
 * the run's probe set. A failure here is logged and leaves the figures empty: it never fails a run
 * whose training and evaluation succeeded. A stop request (shutdown) propagates, so the job goes
 * back to the queue and the next worker redoes only the evaluation and this step.
 */
async function qualityOf(
  input: TrainJobInput,
  checkpointDir: string,
  shouldStop: () => boolean,
): Promise<ExplanationQuality | null> {
  if (input.config.eval.probePerClass <= 0) return null;
  try {
    const q = await runExplanationQuality(input.config, checkpointDir, { shouldStop });
    if (q) post({ type: "log", msg: "explanation quality (best checkpoint)", fields: qualityLogFields(q) });
    return q;
  } catch (err) {
    if (err instanceof StopRequestedError) throw err;
    post({
      type: "log",
      level: "warn",
      msg: "explanation quality failed; the run's results are stored without it",
      fields: { err: (err as Error).message },
    });
    return null;
  }
}

async function runJob({ input, stopFlag }: TrainJobMessage): Promise<void> {
  const stop = new Int32Array(stopFlag);
  const shouldStop = () => Atomics.load(stop, 0) === 1;
  const tensorsBefore = tf.memory().numTensors;
  let last: TrainThreadMessage;
  try {
    last = await runJobIn(input, shouldStop);
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

async function runJobIn(input: TrainJobInput, shouldStop: () => boolean): Promise<TrainThreadMessage> {
  let resumeFrom = (await readResumeState(input.runDir)) ?? undefined;
  if (resumeFrom && resumeFrom.configHash !== configHash(input.config)) {
    post({
      type: "log",
      msg: "ignoring resume state written for another config",
      fields: { dir: resumeFrom.dir },
    });
    resumeFrom = undefined;
  }
  if (resumeFrom) post({ type: "resumed", epoch: resumeFrom.epoch, history: resumeFrom.history });

  const result = await trainPipeline(input.config, {
    runDir: input.runDir,
    initFrom: input.initFrom ?? undefined,
    resumeFrom,
    onEpoch: (metrics) => post({ type: "epoch", metrics }),
    shouldStop,
    log: (msg, fields) => post({ type: "log", msg, fields }),
  });
  const explanation = await qualityOf(input, result.bestCheckpoint.dir, shouldStop);
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
      explanation,
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
