// `pnpm demo`: the whole product on one machine, from a fresh clone. Provides Postgres (PGlite) and
// Redis (redis-server) unless DATABASE_URL / REDIS_URL are given, starts the API with the dashboard
// and two workers, runs conf/demo.yaml, reports, and keeps serving until Ctrl-C (or exits: --exit).
import { mkdirSync } from "node:fs";
import path from "node:path";
import { applyMigrations, createPrisma, type PrismaClient } from "@xnn/db";
import { submitSweep } from "@xnn/orchestration";
import {
  createToken,
  formatLeaderboard,
  promoteBestRun,
  showSweepProgress,
  sweepLeaderboard,
} from "@xnn/scheduler";
import { ConfigError, connectRedis, createRedis, loadSweepFile, redactUrl } from "@xnn/shared";
import { FlowProducer } from "bullmq";
import type { Redis } from "ioredis";
import { startApiProcess } from "./apiProcess";
import { parseDemoArgs, USAGE, UsageError } from "./args";
import { type ChildService, killAllChildren } from "./childService";
import { acquireDemoLock } from "./demoLock";
import { demoQueuePrefix } from "./demoQueuePrefix";
import { explainOne, firstPredictImage } from "./explainOne";
import { freePort, portOpen } from "./freePort";
import { demoPaths } from "./paths";
import { startPgliteServer } from "./pgliteServer";
import { buildDashboard, dashboardBuilt, generateDemoData, syntheticDataPresent } from "./prepareAssets";
import { startRedisServer } from "./redisServer";
import { formatRunTimings, runTimings } from "./runTimings";
import { MissingRedisError, planServices } from "./servicePlan";
import { installDemoShutdown } from "./shutdown";
import { startWorkers } from "./workers";

const WORKERS = 2;
const DEFAULT_PORT = 4000;

class Interrupted extends Error {
  override name = "Interrupted";
}

const say = (line = "") => process.stdout.write(`${line}\n`);
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

// pnpm forwards a literal "--" when the user types `pnpm demo -- --exit`.
const argv = process.argv.slice(2).filter((a, i) => !(i === 0 && a === "--"));
let args: ReturnType<typeof parseDemoArgs>;
try {
  args = parseDemoArgs(argv);
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`${err.message}\n\n${USAGE}\n`);
  process.exit(2);
}
if (args.help) {
  say(USAGE);
  process.exit(0);
}

const paths = demoPaths();
let plan: ReturnType<typeof planServices>;
try {
  // Before anything is created: a missing Redis must leave the disk untouched.
  plan = planServices();
} catch (err) {
  if (!(err instanceof MissingRedisError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}

const demoStarted = Date.now();
/**
 * Services in start order; stopped in reverse, so workers go before the database they write to.
 * Services of one tier (the workers) stop together: each may wait for its epoch to end.
 */
const services: { name: string; tier: string; stop: () => Promise<unknown> }[] = [];
const track = (child: ChildService, stop: () => Promise<unknown> = () => child.stop(), tier = child.name) =>
  services.push({ name: child.name, tier, stop });

let releaseLock: () => void = () => {};
const interrupt = new AbortController();
let releaseServing: () => void = () => {};
installDemoShutdown({
  graceful: (signal) => {
    process.stderr.write(`\n${signal}: stopping the demo (press Ctrl-C again to force)\n`);
    interrupt.abort();
    releaseServing();
  },
  force: (signal) => {
    process.stderr.write(`\n${signal} again: killing every service now\n`);
    // Includes children still starting or being stopped, which `services` no longer lists.
    killAllChildren();
  },
});
const checkInterrupted = () => {
  if (interrupt.signal.aborted) throw new Interrupted("interrupted");
};

async function step<T>(label: string, work: () => Promise<T>): Promise<T> {
  checkInterrupted();
  const started = Date.now();
  process.stdout.write(`- ${label}... `);
  const result = await work();
  say(`done (${seconds(started)})`);
  checkInterrupted();
  return result;
}

async function stopServices(): Promise<void> {
  while (services.length > 0) {
    const tier = services.at(-1)!.tier;
    const batch: typeof services = [];
    while (services.at(-1)?.tier === tier) batch.unshift(services.pop()!);
    await Promise.all(
      batch.map(async (s) => {
        const started = Date.now();
        try {
          await s.stop();
          say(`  stopped ${s.name} (${seconds(started)})`);
        } catch (err) {
          process.stderr.write(`  could not stop ${s.name}: ${(err as Error).message}\n`);
        }
      }),
    );
  }
}

async function pickPort(): Promise<number> {
  if (args.port !== null) return args.port;
  return (await portOpen(DEFAULT_PORT)) ? freePort() : DEFAULT_PORT;
}

async function run(): Promise<boolean> {
  mkdirSync(paths.home, { recursive: true });
  releaseLock = acquireDemoLock(paths.lockFile);
  const queuePrefix = demoQueuePrefix(paths.instanceFile);
  const log = (name: string) => path.join(paths.logDir, `${name}.log`);
  say(`xnn demo: state in ${paths.home}, queue prefix ${queuePrefix}, logs in ${paths.logDir}`);

  let databaseUrl: string;
  if (plan.postgres.kind === "external") {
    databaseUrl = plan.postgres.url;
    say(`- Postgres: using DATABASE_URL ${redactUrl(databaseUrl)}`);
  } else {
    const pg = await step(`starting PGlite (embedded Postgres, data in ${paths.pgliteDir})`, () =>
      startPgliteServer({ dataDir: paths.pgliteDir, logFile: log("pglite") }),
    );
    track(pg.service, pg.stop);
    databaseUrl = pg.url;
  }

  let redisUrl: string;
  if (plan.redis.kind === "external") {
    redisUrl = plan.redis.url;
    say(`- Redis: using REDIS_URL ${redactUrl(redisUrl)}`);
  } else {
    const bin = plan.redis.bin;
    const redis = await step(`starting ${bin}`, () =>
      startRedisServer({ bin, dir: paths.redisDir, logFile: log("redis") }),
    );
    track(redis.service, redis.stop);
    redisUrl = redis.url;
  }

  const applied = await step("applying database migrations", () => applyMigrations(databaseUrl));
  if (applied.length > 0) say(`  applied ${applied.join(", ")}`);

  if (!syntheticDataPresent(paths.dataDir)) {
    await step(`generating the synthetic data set in ${paths.dataDir}`, () =>
      generateDemoData(paths.dataDir),
    );
  }
  if (!dashboardBuilt(paths.dashboardDir)) {
    await step("building the dashboard (first run only)", () => buildDashboard(log("dashboard-build")));
  }

  const port = await pickPort();
  const api = await step(`starting the API and dashboard on port ${port}`, () =>
    startApiProcess({
      port,
      databaseUrl,
      redisUrl,
      queuePrefix,
      dashboardDir: paths.dashboardDir,
      logFile: log("api"),
    }),
  );
  track(api);

  const workers = await step(`starting ${WORKERS} workers`, () =>
    startWorkers(
      WORKERS,
      {
        DATABASE_URL: databaseUrl,
        REDIS_URL: redisUrl,
        XNN_QUEUE_PREFIX: queuePrefix,
        ARTIFACT_DIR: paths.artifactDir,
        ARTIFACT_URL: "",
      },
      paths.logDir,
    ),
  );
  for (const w of workers) track(w, () => w.stop({ timeoutMs: 30_000 }), "workers");

  const prisma = createPrisma(databaseUrl, { poolSize: 2 });
  const connection = createRedis(redisUrl, "producer");
  let flows: FlowProducer | null = null;
  try {
    // Connected before the FlowProducer exists: it would otherwise start connecting on its own.
    await connectRedis(connection, redisUrl);
    flows = new FlowProducer({ connection, prefix: queuePrefix });
    return await runSweep(prisma, flows, { redis: connection, prefix: queuePrefix }, workers, port);
  } finally {
    await flows?.close().catch(() => {});
    connection.disconnect();
    await prisma.$disconnect();
  }
}

async function runSweep(
  prisma: PrismaClient,
  flows: FlowProducer,
  queue: { redis: Redis; prefix: string },
  workers: ChildService[],
  port: number,
): Promise<boolean> {
  const sweepFile = path.relative(process.cwd(), paths.sweepFile) || paths.sweepFile;
  let loaded: ReturnType<typeof loadSweepFile>;
  try {
    loaded = loadSweepFile(sweepFile);
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(err.message);
    throw err;
  }
  // A fresh sweep each time: the point of the demo is to watch it train, not to find last run's rows.
  const submitted = await submitSweep({ prisma, flows }, loaded, { fresh: true, createdBy: "demo" });
  say(`\nSweep ${submitted.sweepId}: ${submitted.runs} runs queued (${sweepFile}). Live progress:`);

  // Following stops early if every worker has died: nothing would ever finish the sweep.
  const follow = new AbortController();
  const onInterrupt = () => follow.abort();
  interrupt.signal.addEventListener("abort", onInterrupt);
  let workersGone = false;
  void Promise.all(workers.map((w) => w.exited)).then(() => {
    workersGone = true;
    follow.abort();
  });
  const sweepStarted = Date.now();
  const runs = await showSweepProgress(prisma, submitted.sweepId, { signal: follow.signal });
  interrupt.signal.removeEventListener("abort", onInterrupt);
  checkInterrupted();
  if (workersGone) {
    throw new Error(
      `every worker exited before the sweep finished; see ${workers.map((w) => w.logFile).join(", ")}\n${workers[0]?.tail(10) ?? ""}`,
    );
  }
  const succeeded = runs.every((r) => r.status === "succeeded");
  say(`\nSweep ${succeeded ? "succeeded" : "finished with failures"} in ${seconds(sweepStarted)}.`);
  say(`\nPer-run timing:\n${formatRunTimings(await runTimings(prisma, submitted.sweepId))}`);
  const board = await sweepLeaderboard(prisma, submitted.sweepId);
  say(`\nLeaderboard (test set):\n${formatLeaderboard(board)}`);
  for (const r of board.filter((b) => b.error)) say(`  ${r.key} failed: ${r.error}`);

  let promoted: { versionId: string; task: string } | null = null;
  try {
    const result = await promoteBestRun(prisma, submitted.sweepId, "demo");
    const run = board.find((b) => b.runId === result.runId);
    say(
      `\nPromoted ${result.runId} (test F1 ${run?.testF1?.toFixed(3) ?? "-"}) to production: ${result.task} v${result.version}`,
    );
    promoted = { versionId: result.versionId, task: result.task };
  } catch (err) {
    say(`\nNo promotion: ${(err as Error).message}`);
  }

  await explainPromoted(prisma, queue, promoted);

  const token = await createToken(prisma, "admin", `demo ${new Date().toISOString()}`);
  say(`\nDashboard: http://127.0.0.1:${port}/`);
  say(`Log in with this admin token (shown once): ${token}`);
  return succeeded;
}

/** One predict/ image through the promoted model; a failure here is reported, not fatal. */
async function explainPromoted(
  prisma: PrismaClient,
  queue: { redis: Redis; prefix: string },
  promoted: { versionId: string; task: string } | null,
): Promise<void> {
  const image = firstPredictImage(paths.dataDir);
  if (!promoted || !image) {
    say(
      `explanations: skipped (${promoted ? `no image under ${paths.dataDir}/predict` : "no promoted model"})`,
    );
    return;
  }
  const overlayPng = path.join(
    paths.explanationsDir,
    `${path.basename(image, path.extname(image))}-overlay.png`,
  );
  const started = Date.now();
  try {
    const outcome = await explainOne({
      prisma,
      ...queue,
      task: promoted.task,
      versionId: promoted.versionId,
      image,
      overlayPng,
    });
    say(`\nExplained ${path.relative(process.cwd(), image)}: ${outcome.summary} (${seconds(started)})`);
    say(`  overlay: ${outcome.overlayPng}`);
  } catch (err) {
    say(`explanations: failed for ${image}: ${(err as Error).message}`);
  }
}

let exitCode = 1;
try {
  const succeeded = await run();
  if (!args.exitAfterReport) {
    say(`\nEverything keeps running (total ${seconds(demoStarted)} so far). Press Ctrl-C to stop.`);
    await new Promise<void>((resolve) => {
      releaseServing = resolve;
      if (interrupt.signal.aborted) resolve();
    });
  }
  exitCode = succeeded ? 0 : 1;
} catch (err) {
  if (err instanceof Interrupted) exitCode = 130;
  else process.stderr.write(`\ndemo failed: ${(err as Error).message}\n`);
} finally {
  say("\nShutting down:");
  await stopServices();
  releaseLock();
  say(`Demo ${exitCode === 0 ? "finished" : "ended"} after ${seconds(demoStarted)} (exit ${exitCode}).`);
}
process.exit(exitCode);
