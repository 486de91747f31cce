import type { TrainJobInput } from "../training/protocol";
import type { Trainer, TrainHandle, TrainOutcome } from "../training/trainInThread";

/**
 * A trainer that computes nothing but reports one epoch and a small but complete result, so that
 * `pnpm bench queue` measures the queue and the database writes a real run makes, not TF.js.
 * Injected by the bench's worker entry (noopWorker.ts): `startWorker(env, { trainer: noopTrainer })`.
 * It writes no checkpoint file (`checkpointDir: null`), so the worker uploads none.
 */
export const noopTrainer: Trainer = {
  start: async () => ({ backend: "noop", device: "cpu", reason: "no-op trainer (queue benchmarks)" }),
  train: noopTrain,
  close: async () => {},
};

function noopTrain(
  input: TrainJobInput,
  on: { epoch: (m: TrainOutcome["result"]["history"][number]) => void },
): TrainHandle {
  const epoch = {
    epoch: 1,
    lr: input.config.train.learningRate,
    train: { loss: 1.0, accuracy: 0.5 },
    val: { loss: 1.0, accuracy: 0.5, precision: 0.5, recall: 0.5, f1: 0.5 },
    durationMs: 0,
    imagesPerSec: 0,
  };
  on.epoch(epoch);
  const classNames = ["bacteria", "normal", "virus"];
  const perClass = Object.fromEntries(
    classNames.map((c) => [
      c,
      { precision: 0.5, recall: 0.5, f1: 0.5, support: 1, ap: 0.5, tp: 1, fp: 1, fn: 1 },
    ]),
  );
  const curve = { precision: [0.5, 1], recall: [1, 0], thresholds: [0.5] };
  const outcome: TrainOutcome = {
    type: "done",
    backend: "noop",
    initCount: 0,
    threadId: 0,
    skipped: [],
    result: {
      bestEpoch: 1,
      bestValF1: 0.5,
      epochsRun: 1,
      history: [epoch],
      predictions: classNames.map((c, i) => ({
        path: `test/${c}/0.png`,
        label: i,
        predicted: i,
        probs: [0.4, 0.3, 0.3],
      })),
      test: {
        n: classNames.length,
        accuracy: 0.5,
        precision: 0.5,
        recall: 0.5,
        f1: 0.5,
        perClass,
        microAp: 0.5,
        classNames,
        confusion: [
          [1, 0, 0],
          [0, 1, 0],
          [0, 0, 1],
        ],
        curves: { bacteria: curve, normal: curve, virus: curve, micro: curve },
      },
      explanation: null,
      checkpointDir: null,
      checkpoint: { sha256: "0".repeat(64), sizeBytes: 0, epoch: 1 },
    },
  };
  return { stop: () => {}, stopAfterEpoch: () => {}, openGate: () => {}, done: Promise.resolve(outcome) };
}
