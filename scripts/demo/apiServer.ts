// The demo's API process: `pnpm api` (same createServer, same services) plus the built dashboard on
// the same origin, so the dashboard needs no API URL and no CORS. Run as a child of `pnpm demo`,
// which passes everything through the environment and sends this process's logs to a file.
import { createPrisma, createSql } from "@xnn/db";
import { createServer, installShutdown } from "@xnn/scheduler";
import {
  connectRedis,
  createLogger,
  createRedis,
  EnvError,
  parseEnv,
  postgresUrl,
  queuePrefix,
  redisUrl,
} from "@xnn/shared";

const logger = createLogger("demo-api");

let env: ReturnType<typeof readEnv>;
function readEnv() {
  const urls = parseEnv({ DATABASE_URL: postgresUrl, REDIS_URL: redisUrl, XNN_QUEUE_PREFIX: queuePrefix });
  // The rest is set by `pnpm demo` itself, never typed by a user: a plain presence check is enough.
  const required = (name: string) => {
    const value = process.env[name];
    if (!value) throw new EnvError(`${name} is required (set by pnpm demo)`);
    return value;
  };
  const port = Number(required("PORT"));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new EnvError(`PORT must be a port number`);
  return {
    ...urls,
    PORT: port,
    HOST: process.env.HOST || "127.0.0.1",
    XNN_CONF_DIR: required("XNN_CONF_DIR"),
    XNN_DASHBOARD_DIR: required("XNN_DASHBOARD_DIR"),
  };
}
try {
  env = readEnv();
} catch (err) {
  if (err instanceof EnvError) {
    logger.fatal(err.message);
    process.exit(2);
  }
  throw err;
}

// Small pools: with PGlite every query waits its turn in one database, so more connections buy nothing.
const prisma = createPrisma(env.DATABASE_URL, { poolSize: 3 });
const sql = createSql(env.DATABASE_URL, { max: 3 });
const redis = createRedis(env.REDIS_URL, "server");
redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
try {
  await connectRedis(redis, env.REDIS_URL);
} catch (err) {
  logger.fatal((err as Error).message);
  process.exit(1);
}

const app = createServer({
  prisma,
  sql,
  redis,
  prefix: env.XNN_QUEUE_PREFIX,
  confDir: env.XNN_CONF_DIR,
  logger,
  dashboardDir: env.XNN_DASHBOARD_DIR,
});

process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection"));

const server = app.listen(env.PORT, env.HOST, () => {
  logger.info(
    { port: env.PORT, prefix: env.XNN_QUEUE_PREFIX },
    `demo API and dashboard on http://${env.HOST}:${env.PORT}`,
  );
});
server.on("error", (err) => {
  logger.fatal({ err }, "cannot listen");
  process.exit(1);
});

installShutdown(server, logger, async () => {
  await app.closeResources();
  await Promise.allSettled([prisma.$disconnect(), sql.end({ timeout: 5 })]);
  redis.disconnect();
});
