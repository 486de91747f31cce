import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { createRedis } from "@xnn/shared";
import type { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, lossReport, PrivateRedis, smallSweep, submit, sweepEnded } from "./testing/faultHarness";
import { TcpProxy } from "./testing/tcpProxy";
import { QUICK_LOCK_MS, quickTakeover, startTestReconciler, testWorkerEnv } from "./testing/testWorkers";
import { waitFor, waitForWorkers } from "./testing/workerHarness";
import { useWorkerStack } from "./testing/workerStack";

// Infrastructure faults in the middle of a sweep of real training runs: Redis restarted with and
// without its data, Postgres unreachable for 30 s, one worker cut off from both for 60 s. The sweep
// must end with every run succeeded and every epoch stored exactly once.
const stack = useWorkerStack({ label: "outage", images: 60, seed: 6 });
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

function workerEnv(prefix: string, databaseUrl: string, redisUrl: string): Record<string, string> {
  return testWorkerEnv(
    { databaseUrl, redisUrl, prefix, artifactDir: stack.artifactDir },
    { ...quickTakeover, XNN_SHUTDOWN_TIMEOUT_MS: "10000" },
  );
}

/** The API's reconciler against this Redis, as `pnpm api` runs it (a pass every 2 s here). */
const reconcilerFor = (redis: Redis, prefix: string) =>
  startTestReconciler({ sql: stack.sql, redis, prefix, staleAfterMs: QUICK_LOCK_MS + 4_000 });

function viaProxy(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(port);
  return u.toString();
}

async function progress(sweepId: string) {
  const runs = await stack.prisma.run.findMany({ where: { sweepId } });
  return {
    epochs: runs.reduce((n, r) => n + r.epochsDone, 0),
    succeeded: runs.filter((r) => r.status === "succeeded").length,
  };
}

const fourRuns = () =>
  smallSweep(
    stack.dataDir,
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
    const { sweepId } = await submit(stack.prisma, redis, prefix, fourRuns());
    const reconciler = reconcilerFor(redis, prefix);
    const env = workerEnv(prefix, stack.databaseUrl, server.url);
    const pair = [stack.spawn(env), stack.spawn(env)];

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

    await waitForWorkers(pair, "the sweep to end", () => sweepEnded(stack.prisma, sweepId), 420_000, 500);
    await reconciler.close();
    const report = await lossReport(stack.prisma, sweepId);
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
    const { sweepId } = await submit(stack.prisma, redis, prefix, fourRuns());
    const reconciler = reconcilerFor(redis, prefix);
    const pg = new URL(stack.databaseUrl);
    const rd = new URL(redisUrl);
    const pgA = new TcpProxy(pg.hostname, Number(pg.port || 5432));
    const pgB = new TcpProxy(pg.hostname, Number(pg.port || 5432));
    const redisA = new TcpProxy(rd.hostname, Number(rd.port || 6379));
    const ports = { pgA: await pgA.start(), pgB: await pgB.start(), redisA: await redisA.start() };
    cleanups.push(() => Promise.all([pgA.stop(), pgB.stop(), redisA.stop()]).then(() => {}));
    // Worker A reaches both services through proxies, worker B only Postgres (Redis directly).
    const a = stack.spawn(
      workerEnv(prefix, viaProxy(stack.databaseUrl, ports.pgA), viaProxy(redisUrl, ports.redisA)),
    );
    const b = stack.spawn(workerEnv(prefix, viaProxy(stack.databaseUrl, ports.pgB), redisUrl));
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

    await waitFor("the sweep to end", () => sweepEnded(stack.prisma, sweepId), 420_000, 500).catch((err) => {
      throw new Error(`${err.message}\n${outputs()}`);
    });
    await reconciler.close();
    expect(await lossReport(stack.prisma, sweepId), outputs()).toEqual({
      notSucceeded: [],
      missingOrExtraEpochs: [],
      duplicates: 0,
      open: 0,
    });
    for (const w of [a, b]) w.child.kill("SIGKILL");
    redis.disconnect();
  }, 900_000);
});
