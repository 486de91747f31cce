import type { ArtifactStore } from "@xnn/artifacts";
import { createPrisma, createSql, type PrismaClient, type Sql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { connectRedis, createLogger, createRedis, RUNS_QUEUE } from "@xnn/shared";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { createToken } from "../../services/auth/tokens";
import type { AuthFailureLimiter } from "../authFailureLimiter";
import { type ApiServer, createServer } from "../createServer";

export const CONF_DIR = new URL("../../../../../conf", import.meta.url).pathname;

/** Per test file: a fresh database, the real Redis, and one token per role. */
export interface Harness {
  /** The test file's own database, for code that reads DATABASE_URL itself (the CLIs). */
  databaseUrl: string;
  prisma: PrismaClient;
  sql: Sql;
  redis: Redis;
  tokens: { viewer: string; operator: string; admin: string };
  close(): Promise<void>;
}

/** `database`: one the test made itself (migrated its own way); dropped by close() all the same. */
export async function createHarness(
  database?: Awaited<ReturnType<typeof createTestDatabase>>,
): Promise<Harness> {
  const db = database ?? (await createTestDatabase(testDatabaseServerUrl()));
  const prisma = createPrisma(db.url, { poolSize: 8 });
  const sql = createSql(db.url, { max: 8 });
  const redis = createRedis(testRedisUrl(), "producer");
  await connectRedis(redis, testRedisUrl());
  const tokens = {
    viewer: await createToken(prisma, "viewer", "vera-viewer"),
    operator: await createToken(prisma, "operator", "otto-operator"),
    admin: await createToken(prisma, "admin", "ada-admin"),
  };
  return {
    databaseUrl: db.url,
    prisma,
    sql,
    redis,
    tokens,
    async close() {
      await prisma.$disconnect();
      await sql.end({ timeout: 5 });
      redis.disconnect();
      await db.drop();
    },
  };
}

/** Per test: a server on a BullMQ prefix no other test uses, and a handle on its queue. */
export async function createTestServer(
  h: Harness,
  options: {
    confDir?: string;
    dataRoot?: string;
    dataRoots?: string[];
    authLimiter?: AuthFailureLimiter;
    artifacts?: ArtifactStore;
    explainTimeoutMs?: number;
    thumbnailDir?: string;
  } = {},
): Promise<{
  server: ApiServer;
  queue: Queue;
  prefix: string;
  close(): Promise<void>;
}> {
  const prefix = testQueuePrefix();
  const server = createServer({
    prisma: h.prisma,
    sql: h.sql,
    redis: h.redis,
    prefix,
    confDir: options.confDir ?? CONF_DIR,
    dataRoot: options.dataRoot,
    dataRoots: options.dataRoots,
    authLimiter: options.authLimiter,
    artifacts: options.artifacts,
    explainTimeoutMs: options.explainTimeoutMs,
    thumbnailDir: options.thumbnailDir,
    logger: createLogger("api-test", "silent"),
  });
  const queue = new Queue(RUNS_QUEUE, { connection: h.redis, prefix });
  return {
    server,
    queue,
    prefix,
    async close() {
      await queue.obliterate({ force: true });
      await queue.close();
      await server.closeResources();
    },
  };
}
