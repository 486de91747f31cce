import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { configHash, generateSynthetic, STOP_AFTER_EPOCH_SEEN } from "@xnn/ml";
import { type PipelineConfig, pipelineSchema, StopRequestedError } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EpochRecord } from "../services/resultsStore";
import type { TrainJobInput } from "./protocol";
import { ThreadStartTimeoutError, ThreadTrainer, type TrainEvents } from "./trainInThread";

// Real training threads on the wasm backend, tiny models: the thread is what is under test.
let tmp: string;
let dataDir: string;
const trainers: ThreadTrainer[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "xnn-trainer-"));
  dataDir = path.join(tmp, "data");
  await generateSynthetic({ out: dataDir, n: 30, size: 32, seed: 5 });
});
afterAll(async () => {
  await Promise.all(trainers.map((t) => t.close()));
  rmSync(tmp, { recursive: true, force: true });
});

function config(epochs: number, seed = 1, cacheFeatures = true): PipelineConfig {
  return pipelineSchema.parse({
    task: "t",
    seed,
    data: { dir: dataDir, imageSize: 32, augment: false, cacheFeatures },
    model: { arch: "mobilenet_v2", widthMultiplier: 0.35, dropout: 0.1 },
    stage: { kind: "fe" },
    classWeighting: "none",
    train: {
      batchSize: 8,
      epochs,
      learningRate: 1e-3,
      weightDecay: 0,
      earlyStopping: { patience: 50 },
      plateau: { factor: 0.5, patience: 50, minLr: 0 },
    },
    eval: { average: "weighted", probePerClass: 0 },
  });
}

/** A job whose config is used as submitted (its paths already local): resume hash of that config. */
function job(cfg: PipelineConfig, runDir: string): TrainJobInput {
  return { config: cfg, resumeHash: configHash(cfg), runDir, initFrom: null };
}

function events(
  over: Partial<TrainEvents> = {},
): TrainEvents & { epochs: EpochRecord[]; resumedAt: number[] } {
  const epochs: EpochRecord[] = [];
  const resumedAt: number[] = [];
  return {
    epochs,
    resumedAt,
    log: () => {},
    epoch: (m) => void epochs.push(m),
    resumed: (e) => void resumedAt.push(e),
    ...over,
  };
}

function newTrainer(): ThreadTrainer {
  const t = new ThreadTrainer("wasm");
  trainers.push(t);
  return t;
}

describe("ThreadTrainer", () => {
  it("runs every job in one long-lived thread that initialised its backend once", async () => {
    const trainer = newTrainer();
    const ready = await trainer.start();
    expect(ready).toMatchObject({ backend: "wasm", device: "cpu" });
    const outcomes = [];
    for (const seed of [1, 2, 3]) {
      const on = events();
      const o = await trainer.train(job(config(1, seed), path.join(tmp, `run-${seed}`)), on).done;
      expect(on.epochs.map((e) => e.epoch)).toEqual([1]);
      outcomes.push(o);
    }
    expect(outcomes.map((o) => o.backend)).toEqual(["wasm", "wasm", "wasm"]);
    expect(outcomes.map((o) => o.threadId)).toEqual([ready.threadId, ready.threadId, ready.threadId]);
    expect(outcomes.map((o) => o.initCount)).toEqual([1, 1, 1]);
  }, 300_000);

  it("stops a job at the next batch when asked, and the same thread takes the next job", async () => {
    const trainer = newTrainer();
    const { threadId } = await trainer.start();
    const handle = trainer.train(
      job(config(30), path.join(tmp, "stopped")),
      events({ epoch: () => handle.stop() }),
    );
    await expect(handle.done).rejects.toBeInstanceOf(StopRequestedError);
    const next = await trainer.train(job(config(1), path.join(tmp, "after-stop")), events()).done;
    expect(next.threadId).toBe(threadId);
    expect(next.initCount).toBe(1);
  }, 300_000);

  it("a job waits after each of its epoch gates until the parent opens it; a stop asked for before opening ends it at exactly that epoch", async () => {
    const trainer = newTrainer();
    await trainer.start();
    const reported: number[] = [];
    const gates: { epoch: number; reported: number[]; heldFor: number[] }[] = [];
    const handle = trainer.train(
      { ...job(config(5), path.join(tmp, "gated")), epochGates: [1, 2] },
      events({
        epoch: (m) => void reported.push(m.epoch),
        gate: (epoch) => {
          const atGate = [...reported];
          // Hold epoch 1's gate a while: nothing of epoch 2 may be reported meanwhile.
          setTimeout(() => {
            gates.push({ epoch, reported: atGate, heldFor: [...reported] });
            if (epoch === 2) handle.stopAfterEpoch();
            handle.openGate(epoch);
          }, 300);
        },
      }),
    );
    await expect(handle.done).rejects.toThrow(/^training stopped on request after epoch 2$/);
    expect(gates).toEqual([
      { epoch: 1, reported: [1], heldFor: [1] },
      { epoch: 2, reported: [1, 2], heldFor: [1, 2] },
    ]);
    expect(reported).toEqual([1, 2]);

    // Without a gate handler every gate opens at once.
    const on = events();
    const open = await trainer.train({ ...job(config(2), path.join(tmp, "ungated")), epochGates: [1] }, on)
      .done;
    expect(open.result.epochsRun).toBe(2);
    expect(on.epochs.map((e) => e.epoch)).toEqual([1, 2]);
  }, 300_000);

  it("asked to stop after the epoch in progress, a job finishes and reports that epoch, then stops; it never weakens a stop() already made", async () => {
    const trainer = newTrainer();
    await trainer.start();
    const logged: { msg: string; fields?: Record<string, unknown> }[] = [];
    const reported: number[] = [];
    const handle = trainer.train(
      job(config(30), path.join(tmp, "after-epoch")),
      events({
        log: (msg, fields) => void logged.push({ msg, fields }),
        epoch: (m) => {
          reported.push(m.epoch);
          if (m.epoch === 1) handle.stopAfterEpoch();
        },
      }),
    );
    const err = await handle.done.then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(StopRequestedError);
    // The request lands in whichever epoch the thread is in when epoch 1's report has been handled
    // (epoch 1 itself if its stop check had not run yet): the trainer names that epoch, and it is
    // reported and is the last.
    const seen = logged.filter((l) => l.msg === STOP_AFTER_EPOCH_SEEN);
    expect(seen).toHaveLength(1);
    const epoch = seen[0]?.fields?.epoch as number;
    expect(epoch).toBeGreaterThanOrEqual(1);
    expect(epoch).toBeLessThan(30);
    expect(err?.message).toBe(`training stopped on request after epoch ${epoch}`);
    expect(reported).toEqual(Array.from({ length: epoch }, (_, i) => i + 1));

    logged.length = 0;
    const again = trainer.train(
      job(config(30), path.join(tmp, "after-epoch-then-now")),
      events({
        log: (msg, fields) => void logged.push({ msg, fields }),
        epoch: (m) => {
          if (m.epoch === 1) {
            again.stop();
            again.stopAfterEpoch();
          }
        },
      }),
    );
    // Stopped at a batch, not after an epoch: the later request did not replace the first.
    await expect(again.done).rejects.toThrow(/^training stopped on request during epoch \d+$/);
    expect(logged.filter((l) => l.msg === STOP_AFTER_EPOCH_SEEN)).toEqual([]);
  }, 300_000);

  it("a thread that dies mid-job is replaced for the next job, which resumes the run after its last epoch", async () => {
    const trainer = newTrainer();
    const first = await trainer.start();
    const runDir = path.join(tmp, "crashed");
    // Uncached features: an epoch takes long enough that the kill lands in the next one.
    const cfg = config(4, 1, false);
    let killed: Promise<void> | undefined;
    const handle = trainer.train(
      job(cfg, runDir),
      events({
        epoch: (m) => {
          if (m.epoch === 1) killed = trainer.killBusyThreads();
        },
      }),
    );
    await expect(handle.done).rejects.toThrow(/training thread exited with code \d+ before finishing/);
    await killed;
    const on = events();
    const again = await trainer.train(job(cfg, runDir), on).done;
    expect(again.threadId).not.toBe(first.threadId);
    expect(again.initCount).toBe(1);
    expect(on.resumedAt).toEqual([1]);
    // Epoch 1 may be reported again (the kill can land before it was marked reported); the results
    // store upserts it. Epochs 2-4 are trained once, after the resume.
    expect(on.epochs.map((e) => e.epoch).filter((e) => e > 1)).toEqual([2, 3, 4]);
    expect(again.result.epochsRun).toBe(4);
  }, 300_000);

  it("a run moved to a host whose local copy of its data is in another folder resumes: the resume hash is the submitted config's", async () => {
    const trainer = newTrainer();
    await trainer.start();
    // As submitted, data.dir names the data set once (an s3:// URL, say); each host trains on its
    // own local copy of it, in its own cache folder.
    const submitted = config(3);
    const onHost = (host: string): TrainJobInput => {
      const local = path.join(tmp, host, "cache", "datasets", "entry");
      cpSync(dataDir, local, { recursive: true });
      const cfg = structuredClone(submitted);
      cfg.data.dir = local;
      return { config: cfg, resumeHash: configHash(submitted), runDir, initFrom: null };
    };
    const runDir = path.join(tmp, "moved");
    const first = trainer.train(
      onHost("host-a"),
      events({ epoch: (m) => void (m.epoch === 1 && first.stopAfterEpoch()) }),
    );
    await expect(first.done).rejects.toBeInstanceOf(StopRequestedError);

    // The run's folder (its resume state, mirrored through the artifact store) reaches host B.
    const logged: string[] = [];
    const on = events({ log: (msg) => void logged.push(msg) });
    const moved = await trainer.train(onHost("host-b"), on).done;
    expect(logged).not.toContain("ignoring resume state written for another config");
    expect(on.resumedAt).toHaveLength(1);
    expect(on.epochs.map((e) => e.epoch).filter((e) => e > on.resumedAt[0]!)).toEqual(
      [2, 3].filter((e) => e > on.resumedAt[0]!),
    );
    expect(moved.result.epochsRun).toBe(3);

    // A real change of the config (another learning rate) still starts over.
    const changed = structuredClone(submitted);
    changed.train.learningRate = 2e-3;
    const fresh = events({ log: (msg) => void logged.push(msg) });
    const other = onHost("host-c");
    await trainer.train(
      { ...other, config: { ...other.config, train: changed.train }, resumeHash: configHash(changed) },
      fresh,
    ).done;
    expect(fresh.resumedAt).toEqual([]);
    expect(logged).toContain("ignoring resume state written for another config");
  }, 300_000);

  it("a backend that cannot load fails start with the reason, and no job runs", async () => {
    const trainer = new ThreadTrainer("tensorflow");
    trainers.push(trainer);
    const err = await trainer.start().catch((e: Error) => e);
    if (!(err instanceof Error)) {
      // a host with libtensorflow installed: nothing to refuse
      expect(err.backend).toBe("tensorflow");
      return;
    }
    expect(err.name).toBe("BackendUnavailableError");
    expect(err.message).toMatch(/neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node is usable/);
  }, 60_000);

  it("a thread that does not start in time is ended and start-up fails naming the wait", async () => {
    // 50 ms is far shorter than loading the engine takes: the same path as a thread hung at start.
    const trainer = new ThreadTrainer("wasm", () => {}, 50);
    trainers.push(trainer);
    const err = await trainer.start().then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(ThreadStartTimeoutError);
    expect(err?.message).toBe("training thread did not start within 0.05 s; ended");
  });
});
