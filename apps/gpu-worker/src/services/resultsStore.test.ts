import { createPrisma, createSql, type PrismaClient } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl } from "@xnn/db/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TcpProxy } from "../testing/tcpProxy";
import { EpochOutbox } from "./epochOutbox";
import { type EpochRecord, type FinalResults, LeaseLostError, ResultsStore } from "./resultsStore";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: PrismaClient;
const sqls: ReturnType<typeof createSql>[] = [];

/** The lease of the attempt that owns runs "a" and "b" in these tests. */
const LEASE = "job:1";

const epoch = (n: number, f1 = 0.5): EpochRecord => ({
  epoch: n,
  lr: 0.001,
  train: { loss: 1 / n, accuracy: 0.5 },
  val: { loss: 1.1 / n, accuracy: 0.5, precision: 0.5, recall: 0.5, f1 },
  durationMs: 1000,
  imagesPerSec: 30,
});

beforeAll(async () => {
  db = await createTestDatabase(testDatabaseServerUrl());
  prisma = createPrisma(db.url);
});
afterAll(async () => {
  await Promise.all(sqls.map((s) => s.end({ timeout: 1 })));
  await prisma?.$disconnect();
  await db?.drop();
});
beforeEach(async () => {
  await prisma.sweep.deleteMany();
  await prisma.worker.deleteMany();
  for (const id of ["w", "w2"])
    await prisma.worker.create({ data: { id, host: "h", pid: 1, gpus: [], backend: "wasm", version: "t" } });
  await prisma.sweep.create({
    data: { id: "s", name: "s", task: "t", fingerprint: "f", sourceYaml: "", status: "queued" },
  });
  for (const key of ["a", "b"]) {
    await prisma.run.create({
      data: {
        id: key,
        sweepId: "s",
        key,
        config: {},
        configHash: key,
        model: "resnet18",
        classWeighting: "none",
        stage: "fe",
        jobId: key,
        status: "running",
        leaseToken: LEASE,
      },
    });
  }
});

function store(url = db.url) {
  const sql = createSql(url, { max: 2 });
  sqls.push(sql);
  return new ResultsStore(sql);
}

function final(): FinalResults {
  return {
    bestEpoch: 2,
    bestValF1: 0.8,
    epochsRun: 3,
    history: [epoch(1), epoch(2, 0.8), epoch(3)],
    test: {
      n: 4,
      accuracy: 0.75,
      precision: 0.7,
      recall: 0.75,
      f1: 0.72,
      perClass: {
        x: { precision: 0.67, recall: 1, f1: 0.8, support: 2, ap: 0.9, tp: 2, fp: 1, fn: 0 },
        y: { precision: 1, recall: 0.5, f1: 0.67, support: 2, ap: 0.5, tp: 1, fp: 0, fn: 1 },
      },
      microAp: 0.8,
      classNames: ["x", "y"],
      confusion: [
        [2, 0],
        [1, 1],
      ],
      curves: {
        x: { precision: [0.5, 1, 1], recall: [1, 0.5, 0], thresholds: [0.1, 0.9] },
        micro: { precision: [0.5, 1], recall: [1, 0], thresholds: [0.2] },
      },
    },
    predictions: [
      { path: "test/x/1.png", label: 0, predicted: 0, probs: [0.9, 0.1] },
      { path: "test/y/1.png", label: 1, predicted: 0, probs: [0.6, 0.4] },
    ],
    checkpoint: { uri: "file:///tmp/ckpt", sha256: "a".repeat(64), sizeBytes: 1234, epoch: 2 },
  };
}

describe("ResultsStore", () => {
  it("writing the same epochs twice leaves each (run, epoch, split, name) once, with the latest value", async () => {
    const s = store();
    await s.upsertEpochs("a", [epoch(1), epoch(2)], LEASE);
    await s.upsertEpochs("a", [epoch(2, 0.9), epoch(3)], LEASE);
    const rows = await prisma.epochMetric.findMany({
      where: { runId: "a", split: "val", name: "f1" },
      orderBy: { epoch: "asc" },
    });
    expect(rows.map((r) => [r.epoch, r.value])).toEqual([
      [1, 0.5],
      [2, 0.9],
      [3, 0.5],
    ]);
    expect(await prisma.epochMetric.count({ where: { runId: "a" } })).toBe(30);
    const run = await prisma.run.findUniqueOrThrow({ where: { id: "a" } });
    expect(run).toMatchObject({ epochsDone: 3, bestValF1: 0.9 });
  });

  it("saveFinal stores everything in one go and is safe to repeat; the sweep ends with its last run", async () => {
    const s = store();
    await s.saveFinal("a", "s", final(), LEASE);
    await s.saveFinal("a", "s", final(), LEASE);
    expect(await prisma.evaluation.count({ where: { runId: "a" } })).toBe(1);
    expect(await prisma.prCurvePoint.count({ where: { runId: "a" } })).toBe(5);
    expect(
      await prisma.prediction.findMany({ where: { runId: "a" }, orderBy: { itemPath: "asc" } }),
    ).toMatchObject([
      { itemPath: "test/x/1.png", probabilities: [0.9, 0.1] },
      { itemPath: "test/y/1.png", probabilities: [0.6, 0.4] },
    ]);
    expect(await prisma.checkpoint.findMany({ where: { runId: "a" } })).toMatchObject([
      { kind: "best", epoch: 2, valF1: 0.8 },
    ]);
    expect(await prisma.run.findUniqueOrThrow({ where: { id: "a" } })).toMatchObject({
      status: "succeeded",
      testF1: 0.72,
      bestEpoch: 2,
      bestValLoss: 0.55,
    });
    expect((await prisma.sweep.findUniqueOrThrow({ where: { id: "s" } })).status).toBe("queued");
    await s.markEnded("b", "s", "failed", "boom");
    expect((await prisma.sweep.findUniqueOrThrow({ where: { id: "s" } })).status).toBe("failed");
  });

  it("saveFinal stores explanation quality on the test evaluation; a repeat replaces it, none clears it", async () => {
    const s = store();
    const explanation = {
      baseline: "black",
      probeImages: 2,
      completenessGap: 0.03,
      stepsUsed: 75,
      deletionAuc: 0.2,
      insertionAuc: 0.6,
      maskShare: 0.7,
      durationMs: 1234.4,
      perImage: [
        {
          path: "test/x/1.png",
          label: 0,
          completenessGap: 0.02,
          stepsUsed: 50,
          deletionAuc: 0.1,
          insertionAuc: 0.5,
          maskShare: 0.7,
        },
        {
          path: "test/y/1.png",
          label: 1,
          completenessGap: 0.04,
          stepsUsed: 100,
          deletionAuc: 0.3,
          insertionAuc: 0.7,
          maskShare: null,
        },
      ],
    };
    await s.saveFinal("a", "s", { ...final(), explanation }, LEASE);
    await s.saveFinal("a", "s", { ...final(), explanation: { ...explanation, deletionAuc: 0.25 } }, LEASE);
    const rows = await prisma.evaluation.findMany({ where: { runId: "a" } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      split: "test",
      probeImages: 2,
      completenessGap: 0.03,
      stepsUsed: 75,
      deletionAuc: 0.25,
      insertionAuc: 0.6,
      maskShare: 0.7,
      explainMs: 1234,
    });
    expect(rows[0]!.explainPerImage).toEqual(explanation.perImage);

    // NaN (no probe scored) is stored as NULL; no explanation at all leaves every column NULL.
    await s.saveFinal(
      "a",
      "s",
      { ...final(), explanation: { ...explanation, maskShare: Number.NaN } },
      LEASE,
    );
    expect((await prisma.evaluation.findFirstOrThrow({ where: { runId: "a" } })).maskShare).toBeNull();
    await s.saveFinal("a", "s", { ...final(), explanation: null }, LEASE);
    expect(await prisma.evaluation.findFirstOrThrow({ where: { runId: "a" } })).toMatchObject({
      probeImages: null,
      completenessGap: null,
      deletionAuc: null,
      explainPerImage: null,
    });
  });

  it("while Postgres is unreachable, epochs wait and are retried; nothing is lost once it is back", async () => {
    const target = new URL(db.url);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    const port = await proxy.start();
    const viaProxy = new URL(db.url);
    viaProxy.port = String(port);
    const s = store(viaProxy.toString());
    const retries: number[] = [];
    const outbox = new EpochOutbox(s, "a", LEASE, (_err, attempt) => retries.push(attempt));
    outbox.push(epoch(1));
    await outbox.drain();
    await proxy.stop();
    outbox.push(epoch(2));
    outbox.push(epoch(3));
    // Training goes on: push returned at once. Bring the database back after a few failed retries.
    const deadline = Date.now() + 20_000;
    while (retries.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(retries.length).toBeGreaterThanOrEqual(2);
    await proxy.start(port);
    await outbox.drain();
    const epochs = await prisma.epochMetric.findMany({ where: { runId: "a", split: "val", name: "f1" } });
    expect(epochs.map((e) => e.epoch).sort()).toEqual([1, 2, 3]);
    await proxy.stop();
  });

  it("a run found running under another attempt's lease counts a crash; a released run does not", async () => {
    const s = store();
    const claim = (token: string, crashBudget = 20) =>
      s.claimRun("a", "s", { workerId: "w", attempt: 1, token, crashBudget });
    // "a" is running under LEASE: a new attempt finds it so because LEASE's worker died.
    expect(await claim("job:2")).toEqual({ kind: "claimed", crashes: 1, resumedCrash: true });
    // The same attempt claiming again (a retried claim whose answer was lost) is not another crash.
    expect(await claim("job:2")).toEqual({ kind: "claimed", crashes: 1, resumedCrash: false });
    await s.releaseRun("a", "job:2", "shutting down");
    expect(await prisma.run.findUniqueOrThrow({ where: { id: "a" } })).toMatchObject({
      status: "queued",
      leaseToken: null,
      error: "shutting down",
    });
    expect(await claim("job:3")).toEqual({ kind: "claimed", crashes: 1, resumedCrash: false });
    expect(await prisma.run.findUniqueOrThrow({ where: { id: "a" } })).toMatchObject({
      status: "running",
      leaseToken: "job:3",
      workerId: "w",
      crashes: 1,
    });
  });

  it("past its crash budget a run fails naming the deaths and the epoch, and is not claimed again", async () => {
    const s = store();
    await s.upsertEpochs("a", [epoch(1), epoch(2)], LEASE);
    const budget = 2;
    const claim = (token: string) =>
      s.claimRun("a", "s", { workerId: "w", attempt: 1, token, crashBudget: budget });
    expect(await claim("k1")).toMatchObject({ kind: "claimed", crashes: 1 });
    expect(await claim("k2")).toMatchObject({ kind: "claimed", crashes: 2 });
    const over = await claim("k3");
    expect(over).toEqual({
      kind: "crashBudget",
      error: "worker died 3 times at epoch 3 (crash budget exceeded; see XNN_CRASH_BUDGET)",
    });
    const row = await prisma.run.findUniqueOrThrow({ where: { id: "a" } });
    expect(row).toMatchObject({
      status: "failed",
      crashes: 3,
      error: over.kind === "crashBudget" ? over.error : "",
    });
    expect(await claim("k4")).toMatchObject({ kind: "ended", status: "failed" });
    expect((await prisma.run.findUniqueOrThrow({ where: { id: "a" } })).crashes).toBe(3);
  });

  it("an attempt whose run was claimed by another writes nothing more: epochs, final results and failure are fenced", async () => {
    const s = store();
    await s.upsertEpochs("a", [epoch(1)], LEASE);
    await s.claimRun("a", "s", { workerId: "w2", attempt: 1, token: "job:2", crashBudget: 20 });
    await expect(s.upsertEpochs("a", [epoch(1, 0.99), epoch(2)], LEASE)).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    await expect(s.saveFinal("a", "s", final(), LEASE)).rejects.toBeInstanceOf(LeaseLostError);
    await s.markEnded("a", "s", "failed", "old attempt failed", LEASE);
    const f1 = await prisma.epochMetric.findMany({ where: { runId: "a", split: "val", name: "f1" } });
    expect(f1.map((m) => [m.epoch, m.value])).toEqual([[1, 0.5]]);
    expect(await prisma.evaluation.count({ where: { runId: "a" } })).toBe(0);
    expect(await prisma.run.findUniqueOrThrow({ where: { id: "a" } })).toMatchObject({
      status: "running",
      leaseToken: "job:2",
      error: null,
    });
    // The new owner writes as usual.
    await s.upsertEpochs("a", [epoch(2, 0.7)], "job:2");
    expect(await prisma.epochMetric.count({ where: { runId: "a", split: "val", name: "f1" } })).toBe(2);
  });

  it("a run that already succeeded is not claimed again; its stored result is there to return", async () => {
    const s = store();
    await s.saveFinal("a", "s", final(), LEASE);
    expect(
      await s.claimRun("a", "s", { workerId: "w2", attempt: 1, token: "job:2", crashBudget: 20 }),
    ).toEqual({
      kind: "succeeded",
    });
    expect(await s.storedResult("a")).toMatchObject({
      uri: "file:///tmp/ckpt",
      epoch: 2,
      testF1: 0.72,
      epochsDone: 3,
    });
    expect((await prisma.run.findUniqueOrThrow({ where: { id: "a" } })).crashes).toBe(0);
  });

  it("epochs from a run the reconciler set back to queued make it running again", async () => {
    const s = store();
    await prisma.run.update({ where: { id: "a" }, data: { status: "queued" } });
    await s.upsertEpochs("a", [epoch(1)], LEASE);
    expect((await prisma.run.findUniqueOrThrow({ where: { id: "a" } })).status).toBe("running");
  });
});
