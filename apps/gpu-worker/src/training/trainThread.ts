import { parentPort, workerData } from "node:worker_threads";
import {
  configHash,
  DatasetError,
  initBackend,
  readResumeState,
  TrainingCancelledError,
  trainPipeline,
} from "@xnn/ml";
import type { TrainThreadInput, TrainThreadMessage } from "./protocol";

// Runs one training job off the main thread, so the worker's event loop stays free to renew
// BullMQ locks, send heartbeats and write results while a batch computes.
const input = workerData as TrainThreadInput;
const post = (m: TrainThreadMessage) => parentPort!.postMessage(m);
const stop = new Int32Array(input.stopFlag);

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
    shouldStop: () => Atomics.load(stop, 0) === 1,
    log: (msg, fields) => post({ type: "log", msg, fields }),
  });
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
    err instanceof TrainingCancelledError ? "cancelled" : err instanceof DatasetError ? "dataset" : "other";
  post({ type: "error", kind, message: e.message, stack: e.stack });
}
