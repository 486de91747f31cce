import { parentPort, workerData } from "node:worker_threads";
import {
  configHash,
  DatasetError,
  type ExplanationQuality,
  ExplanationQualityStoppedError,
  initBackend,
  qualityLogFields,
  readResumeState,
  runExplanationQuality,
  TrainingCancelledError,
  trainPipeline,
} from "@xnn/ml";
import type { TrainThreadInput, TrainThreadMessage } from "./protocol";

// Runs one training job off the main thread, so the worker's event loop stays free to renew
// BullMQ locks, send heartbeats and write results while a batch computes.
const input = workerData as TrainThreadInput;
const post = (m: TrainThreadMessage) => parentPort!.postMessage(m);
const stop = new Int32Array(input.stopFlag);
const shouldStop = () => Atomics.load(stop, 0) === 1;

/**
 * Explanation quality of the best checkpoint (reloaded from disk, as the test evaluation is), on
 * the run's probe set. A failure here is logged and leaves the figures empty: it never fails a run
 * whose training and evaluation succeeded. A stop request (shutdown) propagates, so the job goes
 * back to the queue and the next worker redoes only the evaluation and this step.
 */
async function qualityOf(checkpointDir: string): Promise<ExplanationQuality | null> {
  if (input.config.eval.probePerClass <= 0) return null;
  try {
    const q = await runExplanationQuality(input.config, checkpointDir, { shouldStop });
    if (q) post({ type: "log", msg: "explanation quality (best checkpoint)", fields: qualityLogFields(q) });
    return q;
  } catch (err) {
    if (err instanceof ExplanationQualityStoppedError) throw err;
    post({
      type: "log",
      level: "warn",
      msg: "explanation quality failed; the run's results are stored without it",
      fields: { err: (err as Error).message },
    });
    return null;
  }
}

try {
  const { backend, reason } = await initBackend(input.backend);
  post({ type: "log", msg: "backend selected", fields: { backend, reason } });

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
  const explanation = await qualityOf(result.bestCheckpoint.dir);
  post({
    type: "done",
    backend: result.backend,
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
  });
} catch (err) {
  const e = err as Error;
  const kind =
    err instanceof TrainingCancelledError || err instanceof ExplanationQualityStoppedError
      ? "cancelled"
      : err instanceof DatasetError
        ? "dataset"
        : "other";
  post({ type: "error", kind, message: e.message, stack: e.stack });
}
