import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { createArtifactStore, pushDataSet, type S3ArtifactStore } from "@xnn/artifacts";
import { startTestS3, type TestS3 } from "@xnn/artifacts/testing";
import { createPrisma, type PrismaClient } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { repoRoot, spawnWorker, type WorkerProcess, waitFor } from "@xnn/gpu-worker/testing";
import { generateSynthetic } from "@xnn/ml";
import { submitSweep } from "@xnn/orchestration";
import { PredictService, promoteRun } from "@xnn/scheduler";
import { ExplainClient } from "@xnn/serving";
import { createLogger, createRedis, loadSweepText, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";

// Hosts that share nothing but Postgres, Redis and a bucket: every worker process gets its own
// ARTIFACT_DIR and cache directory, and checkpoints and resume state travel only through a real
// S3-compatible server (s3rver).
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: PrismaClient;
let redis: Redis;
let s3: TestS3;
let root: string;
let dataDir: string;
const ARTIFACT_URL = () => `s3://${s3.bucket}/xnn`;
/** Where the data set lives for the first test: workers have no local copy of it. */
const DATA_URL = () => `s3://${s3.bucket}/datasets/synth`;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase(testDatabaseServerUrl());
  prisma = createPrisma(db.url);
  redis = createRedis(testRedisUrl(), "worker");
  s3 = await startTestS3();
  root = mkdtempSync(path.join(os.tmpdir(), "xnn-multihost-"));
  dataDir = path.join(root, "data");
  await generateSynthetic({ out: dataDir, n: 90, size: 32, seed: 5 });
  const pusher = createArtifactStore(`s3://${s3.bucket}`, {
    artifactDir: path.join(root, "pusher"),
    cacheDir: path.join(root, "pusher-cache"),
    cacheBytes: 1,
    env: s3.env,
  });
  await pushDataSet(pusher, dataDir, DATA_URL());
  pusher.close();
});

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill("SIGKILL");
  await prisma?.$disconnect();
  redis?.disconnect();
  await db?.drop();
  await s3?.close();
  if (root) rmSync(root, { force: true, recursive: true });
});

/** A host's own directories; nothing under them is visible to another host. */
function host(name: string) {
  return { artifactDir: path.join(root, name, "artifacts"), cacheDir: path.join(root, name, "cache") };
}

function startHost(name: string, prefix: string): WorkerProcess {
  const h = host(name);
  const w = spawnWorker({
    DATABASE_URL: db.url,
    REDIS_URL: testRedisUrl(),
    XNN_QUEUE_PREFIX: prefix,
    ARTIFACT_URL: ARTIFACT_URL(),
    ARTIFACT_DIR: h.artifactDir,
    XNN_ARTIFACT_CACHE_DIR: h.cacheDir,
    ...s3.env,
    XNN_BACKEND: "wasm",
    // The API host's prediction is computed by a worker host.
    XNN_EXPLAIN: "1",
    XNN_LOCK_DURATION_MS: "15000",
    XNN_STALLED_INTERVAL_MS: "3000",
    XNN_HEARTBEAT_MS: "500",
    XNN_SHUTDOWN_TIMEOUT_MS: "30000",
  });
  workers.push(w);
  return w;
}

function sweep(overrides: Record<string, unknown>, axes: Record<string, unknown[]>) {
  const doc = parse(readFileSync(path.join(repoRoot, "conf/demo.yaml"), "utf8")) as Record<string, unknown>;
  doc.overrides = { "data.dir": dataDir, "data.imageSize": 32, "train.batchSize": 16, ...overrides };
  doc.axes = axes;
  return loadSweepText(stringify(doc), { baseDir: path.join(repoRoot, "conf") });
}

async function submit(prefix: string, loaded: ReturnType<typeof sweep>) {
  const flows = new FlowProducer({ connection: redis, prefix });
  try {
    return await submitSweep({ prisma, flows }, loaded, { fresh: true });
  } finally {
    await flows.close();
  }
}

const runStatus = async (id: string) => (await prisma.run.findUniqueOrThrow({ where: { id } })).status;
async function sweepDone(sweepId: string) {
  const s = await prisma.sweep.findUniqueOrThrow({ where: { id: sweepId } });
  return ["succeeded", "failed", "cancelled"].includes(s.status) ? s : undefined;
}
const withOutput = (err: Error) => {
  throw new Error(
    `${err.message}\n--- worker output ---\n${workers.map((w) => w.output().slice(-3000)).join("\n---\n")}`,
  );
};
async function stop(w: WorkerProcess) {
  w.child.kill("SIGTERM");
  const exit = await w.exited;
  expect(exit, `${JSON.stringify(exit)}\n${w.output().slice(-3000)}`).toEqual({ code: 0, signal: null });
}

describe("workers on separate hosts with ARTIFACT_URL=s3://", () => {
  it("FE trains on host A, its FT on host B from the bucket, and an API host promotes and predicts", async () => {
    const prefix = testQueuePrefix();
    const { sweepId } = await submit(
      prefix,
      sweep(
        { "train.epochs": 2, "eval.probePerClass": 1, "data.dir": DATA_URL() },
        { model: ["mobilenet_v2"], stage: ["fe", "ft"] },
      ),
    );
    const runs = await prisma.run.findMany({ where: { sweepId } });
    const fe = runs.find((r) => r.stage === "fe")!;
    const ft = runs.find((r) => r.stage === "ft")!;

    const queue = new Queue(RUNS_QUEUE, { connection: redis, prefix });
    const a = startHost("a", prefix);
    await waitFor("the FE run to start", async () => (await runStatus(fe.id)) === "running", 120_000).catch(
      withOutput,
    );
    // Paused, host A finishes the FE run and takes nothing else: the FT run is left to host B.
    await queue.pause();
    await waitFor(
      "the FE run on host A",
      async () => (await runStatus(fe.id)) === "succeeded",
      300_000,
    ).catch(withOutput);
    await stop(a);
    await queue.resume();
    const b = startHost("b", prefix);
    await waitFor("the sweep on host B", () => sweepDone(sweepId), 300_000, 1000).catch(withOutput);

    const done = await prisma.run.findMany({ where: { sweepId }, include: { checkpoints: true } });
    expect(done.map((r) => `${r.stage}:${r.status}:${r.error ?? ""}`).sort()).toEqual([
      "fe:succeeded:",
      "ft:succeeded:",
    ]);
    const feDone = done.find((r) => r.id === fe.id)!;
    const ftDone = done.find((r) => r.id === ft.id)!;
    expect(feDone.workerId).not.toBeNull();
    expect(ftDone.workerId).not.toBeNull();
    expect(ftDone.workerId).not.toBe(feDone.workerId);
    for (const r of done)
      expect(r.checkpoints.find((c) => c.kind === "best")?.uri).toMatch(/^s3:\/\/xnn-test\/xnn\/runs\//);
    // Host B never had the FE run's directory; it read the FE checkpoint from the bucket.
    expect(existsSync(path.join(host("b").artifactDir, "runs", fe.id))).toBe(false);
    expect(
      readdirSync(path.join(host("b").cacheDir, "entries")).filter((e) => !e.includes(".")),
    ).toHaveLength(1);
    // Each host synced the data set from the bucket into its own data cache, once.
    for (const name of ["a", "b"]) {
      const entries = readdirSync(path.join(host(name).cacheDir, "datasets", "entries"));
      expect(entries.filter((e) => !e.includes("."))).toHaveLength(1);
    }
    const logs = await queue.getJobLogs(ft.jobId);
    await queue.close();
    expect(logs.logs.join("\n")).toContain(
      `starting from FE checkpoint ${path.join(host("b").cacheDir, "entries")}`,
    );

    // The API host predicts; host B, still up, serves the explanation off the API's event loop.
    await promoteRun(prisma, ft.id, "test");
    const explainer = new ExplainClient({
      redis,
      prefix,
      timeoutMs: 120_000,
      servingWorkers: PredictService.servingWorkers(prisma),
    });
    try {
      const service = new PredictService(prisma, createLogger("api-test", "silent"), explainer);
      const testDir = path.join(dataDir, "test");
      const cls = readdirSync(testDir)[0]!;
      const image = readFileSync(path.join(testDir, cls, readdirSync(path.join(testDir, cls))[0]!));
      const { response: res, cached } = await service.predict({ image });
      expect(cached).toBe(false);
      expect(res.modelVersion.runId).toBe(ft.id);
      expect(Object.keys(res.probabilities)).toHaveLength(3);
    } finally {
      await explainer.close();
    }
    await stop(b);
  }, 700_000);

  it("a run SIGKILLed on host A resumes on host B from the last epoch's state in the bucket", async () => {
    const prefix = testQueuePrefix();
    const { sweepId } = await submit(
      prefix,
      sweep(
        {
          "train.epochs": 5,
          "data.cacheFeatures": false,
          "data.augment": true,
          "train.earlyStopping.patience": 10,
          "eval.probePerClass": 1,
        },
        { model: ["mobilenet_v2"], stage: ["fe"] },
      ),
    );
    const run = await prisma.run.findFirstOrThrow({ where: { sweepId } });
    const probe = createArtifactStore(ARTIFACT_URL(), {
      artifactDir: path.join(root, "probe"),
      cacheDir: path.join(root, "probe-cache"),
      cacheBytes: 1,
      env: s3.env,
    });
    const resumeUri = probe.uriFor(`runs/${run.id}/resume-state`);
    const a = startHost("c", prefix);
    const uploaded = await waitFor(
      "epoch 2's resume state in the bucket",
      async () => {
        const m = await probe.stat(resumeUri);
        return typeof m?.meta.epoch === "number" && m.meta.epoch >= 2 ? m.meta.epoch : undefined;
      },
      300_000,
    ).catch(withOutput);
    a.child.kill("SIGKILL");
    await a.exited;
    const b = startHost("d", prefix);
    await waitFor("the run on host B", () => sweepDone(sweepId), 300_000, 1000).catch(withOutput);
    await stop(b);

    const done = await prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(done.status, done.error ?? "").toBe("succeeded");
    const queue = new Queue(RUNS_QUEUE, { connection: redis, prefix });
    const logs = (await queue.getJobLogs(run.jobId)).logs;
    await queue.close();
    const resumed = logs.find((l) => l.startsWith("resumed after epoch"));
    expect(resumed, logs.join("\n")).toBeDefined();
    expect(Number(resumed!.match(/epoch (\d+)/)![1])).toBeGreaterThanOrEqual(uploaded);
    const f1 = await prisma.epochMetric.findMany({
      where: { runId: run.id, split: "val", name: "f1" },
      orderBy: { epoch: "asc" },
    });
    expect(f1.map((m) => m.epoch)).toEqual(Array.from({ length: done.epochsDone }, (_, i) => i + 1));
    // Host D's directory never held the run before it fetched the state from the bucket.
    expect(b.output()).toContain("resume state fetched from the artifact store");
    // Finished: the resume state is gone from the bucket, the best checkpoint is there.
    expect(await probe.stat(resumeUri)).toBeNull();
    const best = await prisma.checkpoint.findFirstOrThrow({ where: { runId: run.id, kind: "best" } });
    expect((await probe.stat(best.uri))?.sha256).toBe(best.sha256);
    probe.close();
  }, 700_000);

  it("a worker refuses to start on a missing bucket, naming ARTIFACT_URL and the store's error", async () => {
    const w = spawnWorker({
      DATABASE_URL: db.url,
      REDIS_URL: testRedisUrl(),
      XNN_QUEUE_PREFIX: testQueuePrefix(),
      ARTIFACT_URL: "s3://no-such-bucket/xnn",
      ARTIFACT_DIR: host("e").artifactDir,
      XNN_ARTIFACT_CACHE_DIR: host("e").cacheDir,
      ...s3.env,
    });
    workers.push(w);
    expect((await w.exited).code).toBe(2);
    expect(w.output()).toContain(
      'ARTIFACT_URL s3://no-such-bucket/xnn: bucket "no-such-bucket" does not exist (NoSuchBucket',
    );
    // It never registered, so no job could have been handed to it.
    expect(await prisma.worker.count({ where: { pid: w.child.pid ?? -1 } })).toBe(0);
  });

  it("an FE checkpoint whose bytes in the bucket do not match: its FT run fails naming the object, nothing trains", async () => {
    const prefix = testQueuePrefix();
    const { sweepId } = await submit(
      prefix,
      sweep({ "train.epochs": 1, "eval.probePerClass": 0 }, { model: ["mobilenet_v2"], stage: ["fe", "ft"] }),
    );
    const runs = await prisma.run.findMany({ where: { sweepId } });
    const fe = runs.find((r) => r.stage === "fe")!;
    const ft = runs.find((r) => r.stage === "ft")!;
    const queue = new Queue(RUNS_QUEUE, { connection: redis, prefix });
    const a = startHost("f", prefix);
    await waitFor("the FE run to start", async () => (await runStatus(fe.id)) === "running", 120_000).catch(
      withOutput,
    );
    // Paused, the worker finishes the FE run but takes no new job: the FT run waits for the damage.
    await queue.pause();
    await waitFor("the FE run", async () => (await runStatus(fe.id)) === "succeeded", 300_000).catch(
      withOutput,
    );
    const ckpt = await prisma.checkpoint.findFirstOrThrow({ where: { runId: fe.id, kind: "best" } });
    const store = createArtifactStore(ARTIFACT_URL(), {
      artifactDir: path.join(root, "tamper"),
      cacheDir: path.join(root, "tamper-cache"),
      cacheBytes: 1,
      env: s3.env,
    }) as S3ArtifactStore;
    const blob = (await store.stat(ckpt.uri))?.files["weights.bin"]?.sha256;
    await store.client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `${ckpt.uri.slice(`s3://${s3.bucket}/`.length)}/blobs/${blob}`,
        Body: "not the weights",
      }),
    );
    store.close();
    await queue.resume();
    await waitFor("the FT run to fail", async () => (await runStatus(ft.id)) === "failed", 120_000).catch(
      withOutput,
    );
    const failed = await prisma.run.findUniqueOrThrow({ where: { id: ft.id } });
    expect(failed.error).toContain(
      `FE checkpoint of run ${fe.id}: artifact ${ckpt.uri}: file weights.bin downloaded with sha256`,
    );
    expect(failed.epochsDone).toBe(0);
    expect(await prisma.epochMetric.count({ where: { runId: ft.id } })).toBe(0);
    await queue.close();
    await stop(a);
  }, 600_000);
});
