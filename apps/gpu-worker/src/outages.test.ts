import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createPrisma, createSql, type PrismaClient, type Sql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { generateSynthetic } from "@xnn/ml";
import { type Reconciler, startReconciler } from "@xnn/orchestration";
import { createLogger, createRedis, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, lossReport, PrivateRedis, smallSweep, submit, sweepEnded } from "./testing/faultHarness";
import { TcpProxy } from "./testing/tcpProxy";
import { spawnWorker, type WorkerProcess, waitFor } from "./testing/workerHarness";

// Infrastructure faults in the middle of a sweep of real training runs: Redis restarted with and
// without its data, Postgres unreachable for 30 s, one worker cut off from both for 60 s. The sweep
// must end with every run succeeded and every epoch stored exactly once.
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: PrismaClient;
let sql: Sql;
let dataDir: string;
let artifactDir: string;
const workers: WorkerProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  db = await createTestDatabase(testDatabaseServerUrl());
  prisma = createPrisma(db.url);
  sql = createSql(db.url, { max: 4 });
  dataDir = mkdtempSync(path.join(os.tmpdir(), "xnn-outage-data-"));
  artifactDir = mkdtempSync(path.join(os.tmpdir(), "xnn-outage-artifacts-"));
  await generateSynthetic({ out: dataDir, n: 60, size: 32, seed: 6 });
});

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill("SIGKILL");
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await prisma?.$disconnect();
  await sql?.end({ timeout: 1 });
  await db?.drop();
  rmSync(dataDir, { force: true, recursive: true });
  rmSync(artifactDir, { force: true, recursive: true });
});

const LOCK_MS = 4_000;

function workerEnv(prefix: string, databaseUrl: string, redisUrl: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    XNN_QUEUE_PREFIX: prefix,
    ARTIFACT_DIR: artifactDir,
    XNN_BACKEND: "wasm",
    XNN_LOCK_DURATION_MS: String(LOCK_MS),
    XNN_STALLED_INTERVAL_MS: "1000",
    XNN_HEARTBEAT_MS: "500",
    XNN_SHUTDOWN_TIMEOUT_MS: "10000",
  };
}

/** The API's reconciler against this Redis, as `pnpm api` runs it (a pass every 2 s here). */
function reconcilerFor(redis: Redis, prefix: string): Reconciler & { close(): Promise<void> } {
  const queue = new Queue(RUNS_QUEUE, { connection: redis, prefix });
  const flows = new FlowProducer({ connection: redis, prefix });
  queue.on("error", () => {});
  flows.on("error", () => {});
  const r = startReconciler(
    { sql, queue, flows, redis, logger: createLogger("reconciler", "warn") },
    { intervalMs: 2_000, staleAfterMs: LOCK_MS + 4_000, lockKey: `xnn:reconcile:${prefix}` },
  );
  return {
    ...r,
    async close() {
      await r.stop();
      await Promise.allSettled([queue.close(), flows.close()]);
    },
  };
}

function viaProxy(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(port);
  return u.toString();
}

async function progress(sweepId: string) {
  const runs = await prisma.run.findMany({ where: { sweepId } });
  return {
    epochs: runs.reduce((n, r) => n + r.epochsDone, 0),
    succeeded: runs.filter((r) => r.status === "succeeded").length,
  };
}

const fourRuns = () =>
  smallSweep(
    dataDir,
    {
      "train.epochs": 6,
      "train.earlyStopping.patience": 10,
      "data.cacheFeatures": false,
      "data.augment": true,
    },
    { model: ["mobilenet_v2"], classWeighting: ["none", "balanced"], stage: ["fe", "ft"] },
  );

describe("infrastructure faults mid-sweep", () => {
  it("Redis restarted with its data, then again without it: every run succeeds, every epoch once", async () => {
    const redisDir = mkdtempSync(path.join(os.tmpdir(), "xnn-outage-redis-"));
    const server = new PrivateRedis(await freePort(), redisDir, true);
    await server.start();
    cleanups.push(async () => {
      await server.kill();
      rmSync(redisDir, { recursive: true, force: true });
    });
    const redis = createRedis(server.url, "worker");
    redis.on("error", () => {});
    const prefix = testQueuePrefix();
    const { sweepId } = await submit(prisma, redis, prefix, fourRuns());
    const reconciler = reconcilerFor(redis, prefix);
    const env = workerEnv(prefix, db.url, server.url);
    const pair = [spawnWorker(env), spawnWorker(env)];
    workers.push(...pair);

    await waitFor("a few epochs", async () => (await progress(sweepId)).epochs >= 3, 300_000);
    // A reboot with persistence: the append-only file brings every job back.
    await server.kill();
    await server.start();
    await waitFor(
      "an FE run to succeed and more epochs",
      async () => {
        const p = await progress(sweepId);
        return p.succeeded >= 1 && p.epochs >= 10;
      },
      300_000,
    );
    // A reboot that loses everything: the reconciler enqueues the open runs again from Postgres.
    await server.kill();
    rmSync(redisDir, { recursive: true, force: true });
    mkdirSync(redisDir);
    await server.start();

    await waitFor("the sweep to end", () => sweepEnded(prisma, sweepId), 420_000, 500).catch((err) => {
      throw new Error(`${err.message}\n${pair.map((w) => w.output().slice(-3000)).join("\n---\n")}`);
    });
    await reconciler.close();
    const report = await lossReport(prisma, sweepId);
    expect(report, pair.map((w) => w.output().slice(-3000)).join("\n---\n")).toEqual({
      notSucceeded: [],
      missingOrExtraEpochs: [],
      duplicates: 0,
      open: 0,
    });
    for (const w of pair) w.child.kill("SIGKILL");
    redis.disconnect();
  }, 600_000);

  it("Postgres unreachable for 30 s, then one worker cut off from Postgres and Redis for 60 s: every run succeeds, every epoch once", async () => {
    const redisUrl = testRedisUrl();
    const redis = createRedis(redisUrl, "worker");
    const prefix = testQueuePrefix();
    const { sweepId } = await submit(prisma, redis, prefix, fourRuns());
    const reconciler = reconcilerFor(redis, prefix);
    const pg = new URL(db.url);
    const rd = new URL(redisUrl);
    const pgA = new TcpProxy(pg.hostname, Number(pg.port || 5432));
    const pgB = new TcpProxy(pg.hostname, Number(pg.port || 5432));
    const redisA = new TcpProxy(rd.hostname, Number(rd.port || 6379));
    const ports = { pgA: await pgA.start(), pgB: await pgB.start(), redisA: await redisA.start() };
    cleanups.push(() => Promise.all([pgA.stop(), pgB.stop(), redisA.stop()]).then(() => {}));
    // Worker A reaches both services through proxies, worker B only Postgres (Redis directly).
    const a = spawnWorker(workerEnv(prefix, viaProxy(db.url, ports.pgA), viaProxy(redisUrl, ports.redisA)));
    const b = spawnWorker(workerEnv(prefix, viaProxy(db.url, ports.pgB), redisUrl));
    workers.push(a, b);
    const outputs = () => [a, b].map((w) => w.output().slice(-3000)).join("\n---\n");

    await waitFor("a few epochs", async () => (await progress(sweepId)).epochs >= 3, 300_000);
    await Promise.all([pgA.stop(), pgB.stop()]);
    await new Promise((r) => setTimeout(r, 30_000));
    await pgA.start(ports.pgA);
    await pgB.start(ports.pgB);

    const before = (await progress(sweepId)).epochs;
    await waitFor("training to go on", async () => (await progress(sweepId)).epochs >= before + 2, 300_000);
    await Promise.all([pgA.stop(), redisA.stop()]);
    await new Promise((r) => setTimeout(r, 60_000));
    await pgA.start(ports.pgA);
    await redisA.start(ports.redisA);

    await waitFor("the sweep to end", () => sweepEnded(prisma, sweepId), 420_000, 500).catch((err) => {
      throw new Error(`${err.message}\n${outputs()}`);
    });
    await reconciler.close();
    expect(await lossReport(prisma, sweepId), outputs()).toEqual({
      notSucceeded: [],
      missingOrExtraEpochs: [],
      duplicates: 0,
      open: 0,
    });
    for (const w of [a, b]) w.child.kill("SIGKILL");
    redis.disconnect();
  }, 900_000);
});
