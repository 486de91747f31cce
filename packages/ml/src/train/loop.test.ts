import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { StopRequestedError } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend/index.js";
import { loadCheckpoint } from "../checkpoint/checkpoint.js";
import type { ImageBatch } from "../data/loader.js";
import { AdamW } from "../optim/adamw.js";
import { BestCheckpointHook } from "./hooks/bestCheckpointHook.js";
import { EarlyStoppingHook } from "./hooks/earlyStoppingHook.js";
import { EpochLogHook } from "./hooks/epochLogHook.js";
import { LearningRateHook } from "./hooks/learningRateHook.js";
import { ProgressHook, type ProgressReceiver } from "./hooks/progressHook.js";
import { ResumeStateHook } from "./hooks/resumeStateHook.js";
import { STOP_AFTER_EPOCH_SEEN, StopRequestHook } from "./hooks/stopRequestHook.js";
import type { HookState, LoopState, TrainingHook } from "./hooks/trainingHook.js";
import { type EpochSource, runEpochs } from "./loop.js";
import { readResumeState } from "./resume.js";
import type { EpochMetrics } from "./types.js";

// The loop and its hooks on hand-made validation curves: no data set, a one-weight model whose
// weight the step sets to the epoch number, so a saved checkpoint tells which epoch it holds.

let tmp: string;
beforeAll(async () => {
  await initBackend("cpu");
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-loop-"));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const STEPS = 2;
const BATCH: ImageBatch = {
  xs: new Float32Array(1),
  ys: new Int32Array(1),
  paths: ["x.png"],
  shape: [1, 1, 1, 1],
};

interface Curve {
  loss: number[];
  f1?: number[];
}

function markerModel(): tf.LayersModel {
  return tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1], useBias: false })] });
}

const markerOf = (m: tf.LayersModel) => m.layers[0]?.getWeights()[0]?.dataSync()[0];

/** A stage whose validation figures follow `curve` (epoch e reads index e - 1); records each step's learning rate. */
function scripted(curve: Curve, model: tf.LayersModel, optimizer: { lr: number }) {
  const stepLrs: number[] = [];
  const source: EpochSource = {
    trainBatches: () => Array.from({ length: STEPS + 1 }, () => BATCH),
    step: async (_b, { epoch }) => {
      stepLrs.push(optimizer.lr);
      const w = tf.tensor2d([[epoch]]);
      model.layers[0]?.setWeights([w]);
      w.dispose();
      return { weightedLoss: 1, weight: 1, correct: 0, images: 1 };
    },
    validate: async (epoch) => {
      const loss = curve.loss[epoch - 1];
      if (loss === undefined) throw new Error(`the curve has no epoch ${epoch}`);
      const f1 = curve.f1?.[epoch - 1] ?? 0;
      return { loss, accuracy: 0, precision: 0, recall: 0, f1 };
    },
    optimizer,
  };
  return { source, stepLrs };
}

function freshLoop(
  maxEpochs: number,
  saved?: { epoch: number; globalStep: number; history: EpochMetrics[]; stopped: boolean },
): LoopState {
  return {
    epoch: saved?.epoch ?? 0,
    maxEpochs,
    stepsPerEpoch: STEPS,
    globalStep: saved?.globalStep ?? 0,
    history: [...(saved?.history ?? [])],
    stopped: saved?.stopped ?? false,
  };
}

/** The hooks trainPipeline lists, in its order, with the settings of the demo pipelines (patience 3, x0.2 after 2). */
function standardHooks(
  runDir: string,
  model: tf.LayersModel,
  optimizer: AdamW,
  o: {
    saved?: HookState & { reportedThrough?: number };
    receiver?: ProgressReceiver;
    shouldStop?: () => boolean;
    stopAfterEpoch?: () => boolean;
    epochGate?: (epoch: number) => Promise<void>;
  } = {},
) {
  const best = new BestCheckpointHook(model, path.join(runDir, "checkpoint"), o.saved);
  const early = new EarlyStoppingHook(3, o.saved);
  const lr = new LearningRateHook(optimizer, 1e-3, { factor: 0.2, patience: 2, minLr: 1e-6 }, 1, o.saved);
  const logged: { msg: string; fields?: Record<string, unknown> }[] = [];
  const hooks: TrainingHook[] = [
    best,
    early,
    lr,
    new ResumeStateHook(runDir, model, optimizer, "test", [early, lr, best]),
    new EpochLogHook((msg, fields) => void logged.push({ msg, fields })),
    new ProgressHook(runDir, o.receiver ?? {}, o.saved?.reportedThrough),
    new StopRequestHook(
      { now: o.shouldStop, afterEpoch: o.stopAfterEpoch, epochGate: o.epochGate },
      (msg, fields) => void logged.push({ msg, fields }),
    ),
  ];
  return { best, early, lr, hooks, logged };
}

const comparable = (h: EpochMetrics[]) => h.map(({ durationMs: _d, imagesPerSec: _i, ...rest }) => rest);

describe("runEpochs with its hooks", () => {
  it("stops early once val loss has not improved for 3 epochs (patience 3)", async () => {
    const model = markerModel();
    const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 0 });
    // Best at epoch 2; epochs 3, 4, 5 do not beat it (0.9 again is no improvement): stop after 5.
    const { source } = scripted({ loss: [1.0, 0.9, 0.95, 0.9, 0.97, 0.5, 0.4] }, model, optimizer);
    const { hooks, logged } = standardHooks(path.join(tmp, "early"), model, optimizer);
    const calls: string[] = [];
    const recorder: TrainingHook = {
      onTrainStart: () => void calls.push("start"),
      onEpochStart: (l) => void calls.push(`epoch ${l.epoch}`),
      onBatchEnd: (_l, done) => void calls.push(`step ${done}`),
      onEpochEnd: (l, end) => void calls.push(`end ${end.metrics.epoch}${l.stopped ? " stopped" : ""}`),
      onTrainEnd: () => void calls.push("done"),
    };
    const loop = freshLoop(7);
    await runEpochs(loop, source, [...hooks, recorder]);
    expect(loop.history.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5]);
    expect(loop.stopped).toBe(true);
    // Every epoch takes stepsPerEpoch steps of the longer batch source; hooks after early stopping see it.
    expect(calls.slice(0, 5)).toEqual(["start", "epoch 1", "step 1", "step 2", "end 1"]);
    expect(calls.slice(-3)).toEqual(["step 2", "end 5 stopped", "done"]);
    expect(loop.globalStep).toBe(5 * STEPS);
    expect(logged.map((l) => l.fields?.earlyStop)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      "val loss did not improve for 3 epochs",
    ]);
    model.dispose();
    optimizer.dispose();
  });

  it("warms the learning rate up over the first epoch, then multiplies it by 0.2 after more than 2 bad epochs", async () => {
    const model = markerModel();
    const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 0 });
    // Each epoch is lower by 1e-5: an improvement for early stopping (strict), none for the plateau
    // (PyTorch's relative threshold 1e-4). So epochs 2, 3, 4 are bad (the third > patience 2) and
    // the lr drops for epoch 5; 5, 6, 7 are bad again and it drops for epoch 8.
    const loss = [1, 0.99999, 0.99998, 0.99997, 0.99996, 0.99995, 0.99994, 0.99993];
    const { source, stepLrs } = scripted({ loss }, model, optimizer);
    const { hooks, lr, logged } = standardHooks(path.join(tmp, "lr"), model, optimizer);
    const loop = freshLoop(8);
    await runEpochs(loop, source, hooks);
    // Warm-up: step s of the first STEPS uses lr * (s + 1) / STEPS.
    expect(stepLrs.slice(0, 3)).toEqual([5e-4, 1e-3, 1e-3]);
    const perEpoch = loop.history.map((m) => m.lr);
    expect(perEpoch.slice(0, 4)).toEqual([1e-3, 1e-3, 1e-3, 1e-3]);
    expect(perEpoch[4]).toBeCloseTo(2e-4, 15);
    expect(perEpoch[7]).toBeCloseTo(4e-5, 15);
    expect(lr.plateau.state.reductions).toBe(2);
    // The epoch whose step decided a drop names the next rate.
    expect(logged[3]?.fields?.nextLr).toBeCloseTo(2e-4, 15);
    expect(logged[4]?.fields?.nextLr).toBeUndefined();
    model.dispose();
    optimizer.dispose();
  });

  it("keeps the checkpoint of the first epoch with the highest val F1, and it holds that epoch's weights", async () => {
    const model = markerModel();
    const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 0 });
    const f1 = [0.5, 0.7, 0.7, Number.NaN, 0.65, 0.6];
    const { source } = scripted({ loss: [1, 0.9, 0.8, 0.7, 0.6, 0.5], f1 }, model, optimizer);
    const runDir = path.join(tmp, "best");
    const { hooks, best, logged } = standardHooks(runDir, model, optimizer);
    await runEpochs(freshLoop(6), source, hooks);
    expect(best.tracker.state).toEqual({ bestEpoch: 2, bestValue: 0.7 });
    expect(best.checkpoint?.epoch).toBe(2);
    expect(logged.map((l) => l.fields?.best)).toEqual([true, true, false, false, false, false]);
    const dir = best.checkpoint?.dir ?? "";
    const manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as {
      sha256: string;
    };
    expect(manifest.sha256).toBe(best.checkpoint?.sha256);
    const saved = await loadCheckpoint(dir);
    expect(markerOf(saved)).toBe(2);
    expect(markerOf(model)).toBe(6);
    saved.dispose();
    model.dispose();
    optimizer.dispose();
  });

  it("a stop request ends the epoch before its next step; the run resumes from the last epoch and ends as an uninterrupted one", async () => {
    const curve = {
      loss: [1, 0.8, 0.85, 0.9, 0.7, 0.75, 0.8, 0.82, 0.6],
      f1: [0.2, 0.5, 0.4, 0.4, 0.6, 0.6, 0.5, 0.5, 0.9],
    };

    const whole = { model: markerModel(), optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 0 }) };
    const a = standardHooks(path.join(tmp, "whole"), whole.model, whole.optimizer);
    const loopA = freshLoop(9);
    await runEpochs(loopA, scripted(curve, whole.model, whole.optimizer).source, a.hooks);
    // Early stopping ends it after epoch 8 (best loss 0.7 at 5); best F1 0.6 first at epoch 5.
    expect(loopA.history).toHaveLength(8);

    const runDir = path.join(tmp, "stopped");
    const reported: number[] = [];
    let poll = 0;
    const first = { model: markerModel(), optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 0 }) };
    const b = standardHooks(runDir, first.model, first.optimizer, {
      receiver: { onEpoch: (m) => void reported.push(m.epoch) },
      // Asked to stop before the second step of epoch 4.
      shouldStop: () => ++poll === 3 * STEPS + 2,
    });
    const stopped = runEpochs(freshLoop(9), scripted(curve, first.model, first.optimizer).source, b.hooks);
    await expect(stopped).rejects.toBeInstanceOf(StopRequestedError);
    await expect(stopped).rejects.toThrow(/stopped on request during epoch 4/);

    const state = await readResumeState(runDir);
    if (!state) throw new Error("no resume state");
    expect(state.epoch).toBe(3);
    expect(state.reportedThrough).toBe(3);
    const again = { model: markerModel(), optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 0 }) };
    const c = standardHooks(runDir, again.model, again.optimizer, {
      saved: state,
      receiver: { onEpoch: (m) => void reported.push(m.epoch) },
    });
    const loopC = freshLoop(9, state);
    await runEpochs(loopC, scripted(curve, again.model, again.optimizer).source, c.hooks);

    expect(comparable(loopC.history)).toEqual(comparable(loopA.history));
    expect(loopC.globalStep).toBe(loopA.globalStep);
    expect(c.best.tracker.state).toEqual(a.best.tracker.state);
    expect(c.early.rule.state).toEqual(a.early.rule.state);
    expect(c.lr.plateau.state).toEqual(a.lr.plateau.state);
    expect(reported).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const r of [whole, first, again]) {
      r.model.dispose();
      r.optimizer.dispose();
    }
  });

  it("a stop-after-epoch request lets the epoch in progress finish: validated, checkpointed, resume state written and reported, then training ends", async () => {
    // Epoch 4 is the best so far, so its end saves the best checkpoint.
    const curve = { loss: [1, 0.9, 0.8, 0.7, 0.6, 0.5], f1: [0.2, 0.5, 0.4, 0.7, 0.8, 0.9] };
    const runDir = path.join(tmp, "after-epoch");
    const reported: number[] = [];
    const model = markerModel();
    const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 0 });
    let poll = 0;
    const { hooks, best, logged } = standardHooks(runDir, model, optimizer, {
      receiver: { onEpoch: (m) => void reported.push(m.epoch) },
      // Polled before each step and at each epoch's end (STEPS + 1 a epoch): true from the second step of epoch 4.
      stopAfterEpoch: () => ++poll >= 3 * (STEPS + 1) + 2,
    });
    const loop = freshLoop(6);
    const stopped = runEpochs(loop, scripted(curve, model, optimizer).source, hooks);
    await expect(stopped).rejects.toBeInstanceOf(StopRequestedError);
    await expect(stopped).rejects.toThrow(/stopped on request after epoch 4$/);

    // Every step of epoch 4 ran, it was validated and reported, and nothing of epoch 5 started.
    expect(loop.globalStep).toBe(4 * STEPS);
    expect(loop.history.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
    expect(loop.history[3]?.val).toMatchObject({ loss: 0.7, f1: 0.7 });
    expect(reported).toEqual([1, 2, 3, 4]);
    expect(logged.filter((l) => l.msg === STOP_AFTER_EPOCH_SEEN)).toEqual([
      { msg: STOP_AFTER_EPOCH_SEEN, fields: { epoch: 4, batch: 1, steps: STEPS } },
    ]);
    expect(logged.filter((l) => l.msg !== STOP_AFTER_EPOCH_SEEN)).toHaveLength(4);
    // Its checkpoint holds epoch 4's weights, and the resume state is at its end.
    expect(best.checkpoint?.epoch).toBe(4);
    const saved = await loadCheckpoint(best.checkpoint?.dir ?? "");
    expect(markerOf(saved)).toBe(4);
    saved.dispose();
    const state = await readResumeState(runDir);
    expect([state?.epoch, state?.reportedThrough, state?.globalStep]).toEqual([4, 4, 4 * STEPS]);
    model.dispose();
    optimizer.dispose();
  });

  it("a stop-after-epoch request seen during validation still ends training after that epoch", async () => {
    const model = markerModel();
    const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 0 });
    let validated = 0;
    const { source } = scripted({ loss: [1, 0.9, 0.8] }, model, optimizer);
    const counting: EpochSource = {
      ...source,
      validate: async (epoch) => {
        validated = epoch;
        return source.validate(epoch);
      },
    };
    const { hooks, logged } = standardHooks(path.join(tmp, "after-validation"), model, optimizer, {
      stopAfterEpoch: () => validated >= 2,
    });
    const loop = freshLoop(3);
    await expect(runEpochs(loop, counting, hooks)).rejects.toThrow(/stopped on request after epoch 2$/);
    expect(loop.history.map((m) => m.epoch)).toEqual([1, 2]);
    expect(loop.globalStep).toBe(2 * STEPS);
    expect(logged.find((l) => l.msg === STOP_AFTER_EPOCH_SEEN)?.fields).toEqual({
      epoch: 2,
      batch: STEPS,
      steps: STEPS,
    });
    model.dispose();
    optimizer.dispose();
  });

  it("an epoch gate holds the next epoch back until it resolves; a stop it requests ends training at that epoch, before any step of the next", async () => {
    const curve = { loss: [1, 0.9, 0.8, 0.7, 0.6, 0.5], f1: [0.2, 0.5, 0.4, 0.7, 0.8, 0.9] };
    const runDir = path.join(tmp, "gate");
    const reported: number[] = [];
    const gates: { epoch: number; stepsAtEntry: number; stepsAtExit: number }[] = [];
    const model = markerModel();
    const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 0 });
    let stop = false;
    const loop = freshLoop(6);
    const { hooks, best, logged } = standardHooks(runDir, model, optimizer, {
      receiver: { onEpoch: (m) => void reported.push(m.epoch) },
      stopAfterEpoch: () => stop,
      // The rung at epoch 4 takes a while to decide, then stops the run; every other epoch goes on at once.
      epochGate: async (epoch) => {
        const stepsAtEntry = loop.globalStep;
        if (epoch === 4) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          stop = true;
        }
        gates.push({ epoch, stepsAtEntry, stepsAtExit: loop.globalStep });
      },
    });
    const stopped = runEpochs(loop, scripted(curve, model, optimizer).source, hooks);
    await expect(stopped).rejects.toThrow(/stopped on request after epoch 4$/);

    // The gate saw each epoch once, after it was reported; while epoch 4's gate decided, no step ran.
    expect(gates).toEqual(
      [1, 2, 3, 4].map((e) => ({ epoch: e, stepsAtEntry: e * STEPS, stepsAtExit: e * STEPS })),
    );
    expect(reported).toEqual([1, 2, 3, 4]);
    expect(loop.globalStep).toBe(4 * STEPS);
    expect(loop.history.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
    expect(logged.find((l) => l.msg === STOP_AFTER_EPOCH_SEEN)?.fields).toEqual({
      epoch: 4,
      batch: STEPS,
      steps: STEPS,
    });
    expect(best.checkpoint?.epoch).toBe(4);
    const state = await readResumeState(runDir);
    expect([state?.epoch, state?.reportedThrough]).toEqual([4, 4]);
    model.dispose();
    optimizer.dispose();
  });

  it("an epoch gate is not awaited after the last epoch nor after early stopping; on a resume it decides on the resumed epoch first", async () => {
    // Early stopping (patience 3) ends this curve after epoch 4: no gate then.
    const flat = { loss: [1, 1, 1, 1, 1, 1] };
    const seen: number[] = [];
    const a = { model: markerModel(), optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 0 }) };
    const ha = standardHooks(path.join(tmp, "gate-early"), a.model, a.optimizer, {
      epochGate: async (e) => void seen.push(e),
    });
    const early = freshLoop(6);
    await runEpochs(early, scripted(flat, a.model, a.optimizer).source, ha.hooks);
    expect(early.history).toHaveLength(4);
    expect(seen).toEqual([1, 2, 3]);

    // A three-epoch run: gates at 1 and 2, none after 3.
    seen.length = 0;
    const hb = standardHooks(path.join(tmp, "gate-last"), a.model, a.optimizer, {
      epochGate: async (e) => void seen.push(e),
    });
    await runEpochs(freshLoop(3), scripted({ loss: [1, 0.9, 0.8] }, a.model, a.optimizer).source, hb.hooks);
    expect(seen).toEqual([1, 2]);

    // The worker dies while epoch 2's gate decides; the next attempt asks the gate about epoch 2
    // before it takes a step, and stops there when told to.
    const runDir = path.join(tmp, "gate-resume");
    const curve = { loss: [1, 0.9, 0.8, 0.7] };
    const first = { model: markerModel(), optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 0 }) };
    const b = standardHooks(runDir, first.model, first.optimizer, {
      epochGate: async (e) => {
        if (e === 2) throw new Error("worker died");
      },
    });
    await expect(
      runEpochs(freshLoop(4), scripted(curve, first.model, first.optimizer).source, b.hooks),
    ).rejects.toThrow("worker died");
    const state = await readResumeState(runDir);
    if (!state) throw new Error("no resume state");
    expect(state.epoch).toBe(2);
    const again = { model: markerModel(), optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 0 }) };
    let stop = false;
    seen.length = 0;
    const c = standardHooks(runDir, again.model, again.optimizer, {
      saved: state,
      stopAfterEpoch: () => stop,
      epochGate: async (e) => {
        seen.push(e);
        stop = true;
      },
    });
    const resumed = freshLoop(4, state);
    await expect(
      runEpochs(resumed, scripted(curve, again.model, again.optimizer).source, c.hooks),
    ).rejects.toThrow(/stopped on request after epoch 2$/);
    expect(seen).toEqual([2]);
    expect(resumed.globalStep).toBe(2 * STEPS);
    expect(resumed.history.map((m) => m.epoch)).toEqual([1, 2]);
    for (const r of [a, first, again]) {
      r.model.dispose();
      r.optimizer.dispose();
    }
  });

  it("an epoch completed but never reported (a crash in between) reaches the caller on resume, once", async () => {
    const curve = { loss: [1, 0.9, 0.8, 0.7] };
    const runDir = path.join(tmp, "unreported");
    const reported: number[] = [];
    const first = { model: markerModel(), optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 0 }) };
    const b = standardHooks(runDir, first.model, first.optimizer, {
      receiver: {
        onEpoch: (m) => {
          if (m.epoch === 2) throw new Error("worker died");
          reported.push(m.epoch);
        },
      },
    });
    await expect(
      runEpochs(freshLoop(4), scripted(curve, first.model, first.optimizer).source, b.hooks),
    ).rejects.toThrow("worker died");
    const state = await readResumeState(runDir);
    if (!state) throw new Error("no resume state");
    expect([state.epoch, state.reportedThrough]).toEqual([2, 1]);

    const again = { model: markerModel(), optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 0 }) };
    const c = standardHooks(runDir, again.model, again.optimizer, {
      saved: state,
      receiver: { onEpoch: (m) => void reported.push(m.epoch) },
    });
    await runEpochs(freshLoop(4, state), scripted(curve, again.model, again.optimizer).source, c.hooks);
    expect(reported).toEqual([1, 2, 3, 4]);
    for (const r of [first, again]) {
      r.model.dispose();
      r.optimizer.dispose();
    }
  });
});
