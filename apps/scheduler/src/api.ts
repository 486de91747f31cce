// `pnpm api`: the scheduler's HTTP API. Parses the environment once, builds the clients, listens.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  ArtifactStoreUnavailableError,
  artifactEnvShape,
  artifactStoreFromEnv,
  verifyArtifactStore,
} from "@xnn/artifacts";
import { createPrisma, createSql } from "@xnn/db";
import { startSearchScheduler } from "@xnn/orchestration";
import {
  connectRedis,
  createLogger,
  createRedis,
  EnvError,
  parseEnv,
  postgresUrl,
  queuePrefix,
  redactUrl,
  redisUrl,
} from "@xnn/shared";
import { FlowProducer } from "bullmq";
import { z } from "zod";
import { createServer } from "./api/createServer";
import { startRunReconciler } from "./api/reconciler";
import { installShutdown } from "./api/shutdown";
import { createToken } from "./services/auth/tokens";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const logger = createLogger("api");

const envShape = {
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().default("0.0.0.0"),
  DATABASE_URL: postgresUrl,
  REDIS_URL: redisUrl,
  XNN_QUEUE_PREFIX: queuePrefix,
  XNN_CONF_DIR: z.string().default(path.join(repoRoot, "conf")),
  XNN_DEMO: z.enum(["0", "1"]).default("0"),
  XNN_DATA_ROOT: z.string().min(1).default("."),
  /** How often the reconciler compares Postgres with the queue (0: only at start-up). */
  XNN_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(0).default(15_000),
  /** How often sweeps with earlyTerminate are checked for runs to prune, and bayes sweeps for proposals. */
  XNN_PRUNE_INTERVAL_MS: z.coerce.number().int().min(100).default(2_000),
  /** How long POST /api/predict waits for a worker's explanation before answering 504. */
  XNN_EXPLAIN_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(60_000),
  /** The workers' job lock duration: a run whose worker is silent for longer (plus a margin) is requeued. */
  XNN_LOCK_DURATION_MS: z.coerce.number().int().min(1_000).default(30_000),
  // Comma-separated; submitted sweeps' data.dir and model.pretrainedDir, and the predict samples, must stay inside one of them.
  XNN_DATA_ROOTS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? "")
        .split(",")
        .map((d) => d.trim())
        .filter((d) => d !== ""),
    ),
  /** Served on the same origin when it holds a build (`pnpm --filter @xnn/dashboard build`). */
  XNN_DASHBOARD_DIR: z.string().default(path.join(repoRoot, "apps", "dashboard", "dist")),
  ...artifactEnvShape,
};

function readEnv() {
  try {
    return parseEnv(envShape);
  } catch (err) {
    if (err instanceof EnvError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
const env = readEnv();

// An API that cannot read checkpoints must not start: it would answer every predict with an error.
const artifacts = artifactStoreFromEnv(env);
try {
  await verifyArtifactStore(artifacts);
} catch (err) {
  if (err instanceof ArtifactStoreUnavailableError) {
    logger.fatal(err.message);
    process.exit(2);
  }
  throw err;
}
const dashboardDir = existsSync(path.join(env.XNN_DASHBOARD_DIR, "index.html"))
  ? path.resolve(env.XNN_DASHBOARD_DIR)
  : undefined;

const prisma = createPrisma(env.DATABASE_URL, { poolSize: 10 });
const sql = createSql(env.DATABASE_URL, { max: 10 });
const redis = createRedis(env.REDIS_URL, "server");
redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
try {
  await connectRedis(redis, env.REDIS_URL);
} catch (err) {
  logger.error((err as Error).message);
  process.exit(1);
}

if (env.XNN_DEMO === "1") {
  // Demo mode only: a fresh admin token per start, printed once. There is never a default password.
  const token = await createToken(prisma, "admin", `demo-${new Date().toISOString()}`);
  logger.warn({ token }, "XNN_DEMO=1: created an admin token for this demo");
}

const app = createServer({
  prisma,
  sql,
  redis,
  prefix: env.XNN_QUEUE_PREFIX,
  confDir: path.resolve(env.XNN_CONF_DIR),
  dataRoot: path.resolve(env.XNN_DATA_ROOT),
  dataRoots: (env.XNN_DATA_ROOTS.length > 0 ? env.XNN_DATA_ROOTS : [env.XNN_DATA_ROOT]).map((d) =>
    path.resolve(d),
  ),
  logger,
  artifacts,
  dashboardDir,
  explainTimeoutMs: env.XNN_EXPLAIN_TIMEOUT_MS,
});

const reconciler = startRunReconciler({
  sql,
  redis,
  prefix: env.XNN_QUEUE_PREFIX,
  logger,
  intervalMs: env.XNN_RECONCILE_INTERVAL_MS,
  lockDurationMs: env.XNN_LOCK_DURATION_MS,
});

// Early termination and bayes proposals; its own producer, like the reconciler's.
const searchFlows = new FlowProducer({ connection: redis, prefix: env.XNN_QUEUE_PREFIX });
searchFlows.on("error", (err) => logger.warn({ err: err.message }, "search scheduler flow producer error"));
const searchScheduler = startSearchScheduler(
  { sql, redis, flows: searchFlows, logger },
  { intervalMs: env.XNN_PRUNE_INTERVAL_MS },
);

// A bug in one request must not take the API down; it is logged and the process serves on.
process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection"));

const server = app.listen(env.PORT, env.HOST, () => {
  logger.info(
    {
      port: env.PORT,
      redis: redactUrl(env.REDIS_URL),
      prefix: env.XNN_QUEUE_PREFIX,
      artifacts: artifacts.url,
      dashboard: dashboardDir ?? "not built",
    },
    `API listening on http://${env.HOST}:${env.PORT}`,
  );
});
server.on("error", (err) => {
  logger.error({ err }, "cannot listen");
  process.exit(1);
});

installShutdown(server, logger, async () => {
  await reconciler.stop();
  await searchScheduler.stop();
  await searchFlows.close().catch(() => {});
  await app.closeResources();
  await Promise.allSettled([prisma.$disconnect(), sql.end({ timeout: 5 })]);
  redis.disconnect();
  artifacts.close();
});
