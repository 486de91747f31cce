import { Worker } from "node:worker_threads";
import type { EpochRecord, FinalResults } from "../services/resultsStore";
import type { TrainThreadInput, TrainThreadMessage } from "./protocol";

export class TrainingStoppedError extends Error {
  override name = "TrainingStoppedError";
}
/** The data set itself is unusable (missing folder, empty class): retrying cannot help. */
export class DatasetUnusableError extends Error {
  override name = "DatasetUnusableError";
}

export type TrainOutcome = Extract<TrainThreadMessage, { type: "done" }>;

export interface TrainHandle {
  /** Ask the trainer to stop at the next batch; the last epoch checkpoint stays resumable. */
  stop(): void;
  done: Promise<TrainOutcome>;
}

export function trainInThread(
  input: Omit<TrainThreadInput, "stopFlag">,
  on: {
    log: (msg: string, fields?: Record<string, unknown>, level?: "info" | "warn") => void;
    epoch: (m: EpochRecord) => void;
    resumed: (epoch: number, history: EpochRecord[]) => void;
  },
): TrainHandle {
  const stopFlag = new SharedArrayBuffer(4);
  const thread = new Worker(new URL("./boot.mjs", import.meta.url), {
    workerData: { ...input, stopFlag } satisfies TrainThreadInput,
  });
  const done = new Promise<TrainOutcome>((resolve, reject) => {
    let settled = false;
    thread.on("message", (m: TrainThreadMessage) => {
      if (m.type === "log") on.log(m.msg, m.fields, m.level);
      else if (m.type === "epoch") on.epoch(m.metrics);
      else if (m.type === "resumed") on.resumed(m.epoch, m.history);
      else if (m.type === "done") {
        settled = true;
        resolve(m);
        void thread.terminate();
      } else if (m.type === "error") {
        settled = true;
        const Err =
          m.kind === "cancelled" ? TrainingStoppedError : m.kind === "dataset" ? DatasetUnusableError : Error;
        const err = new Err(m.message);
        if (m.stack) err.stack = m.stack;
        reject(err);
        void thread.terminate();
      }
    });
    thread.on("error", (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    thread.on("exit", (code) => {
      if (!settled) reject(new Error(`training thread exited with code ${code} before finishing`));
      settled = true;
    });
  });
  return { stop: () => Atomics.store(new Int32Array(stopFlag), 0, 1), done };
}

export type { FinalResults };
