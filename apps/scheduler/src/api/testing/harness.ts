import type { ArtifactStore } from "@xnn/artifacts";
import { createPrisma, createSql, type PrismaClient, type Sql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { connectRedis, createLogger, createRedis, RUNS_QUEUE } from "@xnn/shared";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, beforeEach } from "vitest";
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

/** What createTestServer takes besides the harness. */
export type TestServerOptions = NonNullable<Parameters<typeof createTestServer>[1]>;

/** A role the harness holds a token for. */
export type Role = keyof Harness["tokens"];

/** Requests to the test's server carrying one role's token. */
export interface AuthorizedRequests {
  get(url: string): request.Test;
  post(url: string): request.Test;
  delete(url: string): request.Test;
}

/** The harness of a test file together with its server. */
export interface ApiHarness extends Harness {
  /** The server: the current test's (a fresh one per test), or the file's (`serverPer: "file"`). */
  server: ApiServer;
  /** Its runs queue, on a BullMQ prefix no other server uses. */
  queue: Queue;
  prefix: string;
  /** Requests to the server with `role`'s token. */
  as(role: Role): AuthorizedRequests;
}

/**
 * The set-up most API test files share, as vitest hooks: the harness once per file, then `seed`
 * (rows every test reads); before each test `reset` (tables the tests write); and a server on a
 * prefix of its own, fresh for each test and closed after it, or with `serverPer: "file"` one for
 * the whole file, started after `seed`. Call it at the top of the file; the returned object is
 * filled in by the hooks, so read its fields inside tests and hooks only.
 */
export function useApiHarness(
  opts: {
    seed?: (h: Harness) => Promise<unknown>;
    reset?: (h: Harness) => Promise<unknown>;
    /** The server's options; a function when they depend on what `seed` made. */
    server?: TestServerOptions | (() => TestServerOptions);
    serverPer?: "test" | "file";
  } = {},
): ApiHarness {
  let harness: Harness | undefined;
  let closeFileServer: (() => Promise<void>) | undefined;
  const api = {
    as: (role: Role): AuthorizedRequests => {
      const auth = ["Authorization", `Bearer ${api.tokens[role]}`] as const;
      return {
        get: (url) =>
          request(api.server)
            .get(url)
            .set(...auth),
        post: (url) =>
          request(api.server)
            .post(url)
            .set(...auth),
        delete: (url) =>
          request(api.server)
            .delete(url)
            .set(...auth),
      };
    },
  } as ApiHarness;
  const startServer = async () => {
    const t = await createTestServer(api, typeof opts.server === "function" ? opts.server() : opts.server);
    Object.assign(api, { server: t.server, queue: t.queue, prefix: t.prefix });
    return t.close;
  };
  beforeAll(async () => {
    harness = await createHarness();
    Object.assign(api, harness);
    await opts.seed?.(api);
    if (opts.serverPer === "file") closeFileServer = await startServer();
  });
  beforeEach(async () => {
    await opts.reset?.(api);
    if (opts.serverPer !== "file") return startServer();
  });
  afterAll(async () => {
    await closeFileServer?.();
    await harness?.close();
  });
  return api;
}

/** A list endpoint's query string (ra-data-simple-rest): each of `range`, `sort`, `filter` as JSON. */
export function listQuery(o: Record<string, unknown>): string {
  return Object.entries(o)
    .map(([k, v]) => `${k}=${encodeURIComponent(JSON.stringify(v))}`)
    .join("&");
}
