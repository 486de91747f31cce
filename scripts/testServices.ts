import net from "node:net";

export interface ServiceUrls {
  databaseUrl: string;
  redisUrl: string;
  /** Stops what this module started (testcontainers), if anything. */
  stop: () => Promise<void>;
}

const DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres";
const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

export function reachable(url: string, timeoutMs = 1500): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol.startsWith("redis") ? 6379 : 5432));
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}

const HOW_TO = {
  postgres: [
    "  - Debian/Ubuntu: sudo apt-get install -y postgresql && sudo pg_ctlcluster $(ls /etc/postgresql) main start",
    "  - macOS: brew install postgresql@15 && brew services start postgresql@15",
    "  - Docker: docker compose -f docker/compose.yaml up -d postgres",
    "  - or point DATABASE_URL at a server you have (any database; tests create their own).",
  ],
  redis: [
    '  - Debian/Ubuntu: sudo apt-get install -y redis-server && redis-server --daemonize yes --save ""',
    "  - macOS: brew install redis && brew services start redis",
    "  - Docker: docker compose -f docker/compose.yaml up -d redis",
    "  - or point REDIS_URL at a server you have.",
  ],
};

/**
 * The Postgres and Redis the integration tests run against: the URLs given in the environment,
 * else the local defaults, else (with a container runtime and no URL given) testcontainers.
 * Fails with the exact URL that could not be reached and how to start it.
 */
export async function resolveTestServices(env = process.env): Promise<ServiceUrls> {
  const databaseUrl = env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const redisUrl = env.REDIS_URL || DEFAULT_REDIS_URL;
  const [pgOk, redisOk] = await Promise.all([reachable(databaseUrl), reachable(redisUrl)]);
  if (pgOk && redisOk) return { databaseUrl, redisUrl, stop: async () => {} };

  const canUseContainers = (!pgOk && !env.DATABASE_URL) || (!redisOk && !env.REDIS_URL);
  if (canUseContainers) {
    const started = await startContainers(!pgOk && !env.DATABASE_URL, !redisOk && !env.REDIS_URL);
    if (started) {
      return {
        databaseUrl: started.databaseUrl ?? databaseUrl,
        redisUrl: started.redisUrl ?? redisUrl,
        stop: started.stop,
      };
    }
  }
  const lines: string[] = [];
  if (!pgOk) lines.push(`Cannot reach Postgres at ${databaseUrl}. Start one:`, ...HOW_TO.postgres);
  if (!redisOk) lines.push(`Cannot reach Redis at ${redisUrl}. Start one:`, ...HOW_TO.redis);
  throw new Error(lines.join("\n"));
}

async function startContainers(
  postgres: boolean,
  redis: boolean,
): Promise<{ databaseUrl?: string; redisUrl?: string; stop: () => Promise<void> } | null> {
  let tc: typeof import("testcontainers");
  try {
    tc = await import("testcontainers");
  } catch {
    return null;
  }
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const out: { databaseUrl?: string; redisUrl?: string } = {};
    if (postgres) {
      const c = await new tc.GenericContainer("postgres:15")
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: "trust" })
        .withExposedPorts(5432)
        .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .start();
      stops.push(() => c.stop());
      out.databaseUrl = `postgresql://postgres@${c.getHost()}:${c.getMappedPort(5432)}/postgres`;
    }
    if (redis) {
      const c = await new tc.GenericContainer("redis:7").withExposedPorts(6379).start();
      stops.push(() => c.stop());
      out.redisUrl = `redis://${c.getHost()}:${c.getMappedPort(6379)}`;
    }
    return { ...out, stop: async () => void (await Promise.all(stops.map((s) => s()))) };
  } catch {
    // No container runtime (e.g. only the docker CLI without a daemon): fall back to the message.
    await Promise.all(stops.map((s) => s().catch(() => {})));
    return null;
  }
}
