import path from "node:path";
import { parentPort, threadId, workerData } from "node:worker_threads";
import {
  backendInitCount,
  DatasetError,
  featureStoreOverDirs,
  initBackend,
  readResumeState,
  runPipeline,
  tf,
} from "@xnn/ml";
import { StopRequestedError } from "@xnn/shared";
import type {
  FeaturesReply,
  TrainJobInput,
  TrainJobMessage,
  TrainThreadBoot,
  TrainThreadMessage,
  TrainThreadStatus,
} from "./protocol";
import { GATE_SLOT, STOP_AFTER_EPOCH, STOP_NOW, STOP_SLOT } from "./protocol";

// The worker process's long-lived training thread. It initialises the backend once (a native
// addon such as tfjs-node cannot be loaded again in a fresh thread per job) and then runs jobs one
// at a time, off the main thread, so the worker's event loop stays free to renew BullMQ locks,
// send heartbeats and write results while a batch computes.
const boot = workerData as TrainThreadBoot;
const post = (m: TrainThreadMessage | TrainThreadStatus) => parentPort!.postMessage(m);

async function runJob({ input, stopFlag }: TrainJobMessage): Promise<void> {
  const flags = new Int32Array(stopFlag);
  const gates = new Set(input.epochGates ?? []);
  const stops: Stops = {
    now: () => Atomics.load(flags, STOP_SLOT) === STOP_NOW,
    afterEpoch: () => Atomics.load(flags, STOP_SLOT) === STOP_AFTER_EPOCH,
    epochGate:
      gates.size > 0
        ? (epoch) => (gates.has(epoch) ? gateOpened(flags, epoch) : Promise.resolve())
        : undefined,
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

interface Stops {
  now: () => boolean;
  afterEpoch: () => boolean;
  epochGate: ((epoch: number) => Promise<void>) | undefined;
}

/** Atomics.waitAsync (Node 16+; ES2024's lib, newer than the one this repo compiles against). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
    ): { async: boolean; value: Promise<unknown> | string };
  }
).waitAsync;

/**
 * Resolves once the parent has opened the gate after `epoch` (having decided, and asked for a stop
 * if the run ends there), or asked to stop now. Waits without a timer of its own: the parent
 * always opens the gate, its decision bounded by a timeout.
 */
async function gateOpened(flags: Int32Array, epoch: number): Promise<void> {
  post({ type: "gate", epoch });
  for (;;) {
    const open = Atomics.load(flags, GATE_SLOT);
    if (open >= epoch || Atomics.load(flags, STOP_SLOT) === STOP_NOW) return;
    const wait = waitAsync(flags, GATE_SLOT, open);
    if (wait.async) await wait.value;
  }
}

/** Requests to the parent for shared feature entries, by id, until their reply comes. */
const featureRequests = new Map<
  number,
  { resolve: (dir: string | null) => void; reject: (e: Error) => void }
>();
let nextFeatureRequest = 0;

function askParent(op: "get" | "put", key: string, dir?: string): Promise<string | null> {
  const id = nextFeatureRequest++;
  return new Promise((resolve, reject) => {
    featureRequests.set(id, { resolve, reject });
    post({ type: "features", id, op, key, ...(dir ? { dir } : {}) });
  });
}

function onFeaturesReply(m: FeaturesReply): void {
  const request = featureRequests.get(m.id);
  if (!request) return;
  featureRequests.delete(m.id);
  if (m.error) request.reject(new Error(m.error));
  else request.resolve(m.dir);
}

async function runJobIn(input: TrainJobInput, stops: Stops): Promise<TrainThreadMessage> {
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
    ...(stops.epochGate ? { epochGate: stops.epochGate } : {}),
    ...(input.shareFeatures
      ? {
          featureStore: featureStoreOverDirs({
            fetch: (key) => askParent("get", key),
            store: async (key, dir) => void (await askParent("put", key, dir)),
            scratch: path.join(input.runDir, "shared-features"),
          }),
        }
      : {}),
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
parentPort!.on("message", (m: TrainJobMessage | FeaturesReply) => {
  if (m.type === "features-reply") onFeaturesReply(m);
  else void runJob(m);
});
