import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createPrisma, createSql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { generateSynthetic } from "@xnn/ml";
import { createRedis, RUNS_QUEUE } from "@xnn/shared";
import { QueueEvents } from "bullmq";
import { lossReport, smallSweep, submit, sweepEnded } from "../apps/gpu-worker/src/testing/faultHarness";
import {
  QUICK_LOCK_MS,
  quickTakeover,
  startTestReconciler,
  testWorkerEnv,
} from "../apps/gpu-worker/src/testing/testWorkers";
import { spawnWorker, type WorkerProcess } from "../apps/gpu-worker/src/testing/workerHarness";

// `pnpm bench chaos [--runs 40] [--kills 50] [--every 4] [--epochs 5] [--processes 2]`: the chaos
// test at scale. The same sweep of real training runs twice on N worker processes: once quietly,
// once with a worker SIGKILLed every `--every` seconds (and restarted at once) until `--kills`.
// Prints runs lost, stuck, duplicate points, epochs redone per kill, and the wall-time ratio.
const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "40" },
    kills: { type: "string", default: "50" },
    every: { type: "string", default: "4" },
    epochs: { type: "string", default: "5" },
    processes: { type: "string", default: "2" },
    seed: { type: "string", default: "1" },
  },
});
const runs = Number(values.runs);
const killTarget = Number(values.kills);
const everyMs = Number(values.every) * 1000;
const processes = Number(values.processes);
if (runs % 4 !== 0) throw new Error("--runs must be a multiple of 4 (2 class weightings x fe/ft)");

const db = await createTestDatabase(testDatabaseServerUrl());
const prisma = createPrisma(db.url);
const sql = createSql(db.url, { max: 4 });
const redis = createRedis(testRedisUrl(), "worker");
const dataDir = mkdtempSync(path.join(os.tmpdir(), "xnn-bench-chaos-data-"));
const artifactDir = mkdtempSync(path.join(os.tmpdir(), "xnn-bench-chaos-artifacts-"));
await generateSynthetic({ out: dataDir, n: 60, size: 32, seed: 5 });

let lcg = Number(values.seed) >>> 0;
const random = () => {
  lcg = (lcg * 1664525 + 1013904223) >>> 0;
  return lcg / 2 ** 32;
};

async function oneSweep(withKills: boolean) {
  const prefix = testQueuePrefix();
  const loaded = smallSweep(
    dataDir,
    {
      "train.epochs": Number(values.epochs),
      "train.earlyStopping.patience": 100,
      "data.cacheFeatures": false,
      "data.augment": true,
    },
    {
      model: ["mobilenet_v2"],
      classWeighting: ["none", "balanced"],
      stage: ["fe", "ft"],
      seed: Array.from({ length: runs / 4 }, (_, i) => i + 1),
    },
  );
  const { sweepId } = await submit(prisma, redis, prefix, loaded);
  const events = new QueueEvents(RUNS_QUEUE, { connection: createRedis(testRedisUrl(), "worker"), prefix });
  // Every epoch any attempt finished, as (job, epoch): repeats are epochs trained again after a kill.
  const epochsReported: string[] = [];
  events.on("progress", ({ jobId, data }) => {
    const epoch = (data as { epoch?: number })?.epoch;
    if (typeof epoch === "number") epochsReported.push(`${jobId}#${epoch}`);
  });
  await events.waitUntilReady();
  const reconciler = startTestReconciler(
    { sql, redis, prefix, staleAfterMs: QUICK_LOCK_MS + 4_000 },
    "error",
  );
  const env = testWorkerEnv(
    { databaseUrl: db.url, prefix, artifactDir },
    { ...quickTakeover, XNN_LOG_LEVEL: "warn" },
  );
  const slots: WorkerProcess[] = Array.from({ length: processes }, () => spawnWorker(env));
  const t0 = performance.now();
  let kills = 0;
  let nextKill = Date.now() + everyMs;
  const deadline = Date.now() + 3 * 3600_000;
  let timedOut = false;
  while (!(await sweepEnded(prisma, sweepId))) {
    if (Date.now() > deadline) {
      timedOut = true;
      break;
    }
    if (withKills && kills < killTarget && Date.now() > nextKill) {
      const i = Math.floor(random() * slots.length);
      slots[i]!.child.kill("SIGKILL");
      await slots[i]!.exited;
      slots[i] = spawnWorker(env);
      kills++;
      nextKill = Date.now() + everyMs * (0.5 + random());
      process.stdout.write(`\r${withKills ? "chaos" : "quiet"}: ${kills}/${killTarget} kills`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const wallS = (performance.now() - t0) / 1000;
  for (const w of slots) w.child.kill("SIGKILL");
  await reconciler.close();
  const loss = await lossReport(prisma, sweepId);
  const stuck = await prisma.run.count({ where: { sweepId, status: { in: ["queued", "running"] } } });
  const redone = epochsReported.length - new Set(epochsReported).size;
  await events.close().catch(() => {});
  return { wallS, kills, loss, stuck, redone, timedOut };
}

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
try {
  console.log(
    `bench chaos: ${runs} runs x ${values.epochs} epochs, ${processes} worker processes, load ${load()}`,
  );
  const quiet = await oneSweep(false);
  console.log(`\nquiet: ${quiet.wallS.toFixed(1)} s, load ${load()}`);
  const chaos = await oneSweep(true);
  console.log(`\nchaos: ${chaos.wallS.toFixed(1)} s with ${chaos.kills} kills, load ${load()}`);
  const lost = chaos.loss.notSucceeded.length;
  console.log(
    [
      "",
      `runs lost            ${lost}${lost ? ` (${chaos.loss.notSucceeded.join("; ")})` : ""}   (target 0)`,
      `runs stuck           ${chaos.stuck}${chaos.timedOut ? " (timed out)" : ""}   (target 0)`,
      `duplicate points     ${chaos.loss.duplicates}   (target 0)`,
      `missing epochs       ${chaos.loss.missingOrExtraEpochs.length}   (target 0)`,
      `epochs redone        ${chaos.redone} = ${(chaos.redone / Math.max(1, chaos.kills)).toFixed(2)} per kill   (target <= 1)`,
      `wall time            ${chaos.wallS.toFixed(1)} s vs ${quiet.wallS.toFixed(1)} s quiet: ratio ${(chaos.wallS / quiet.wallS).toFixed(2)}`,
    ].join("\n"),
  );
} finally {
  await prisma.$disconnect();
  await sql.end({ timeout: 1 });
  redis.disconnect();
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(artifactDir, { recursive: true, force: true });
}
process.exit(0);
