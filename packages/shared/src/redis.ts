import { Redis } from "ioredis";

/**
 * Producers (CLI, API) fail fast when Redis is down, so a user hears about it at once; workers wait
 * and retry forever (`maxRetriesPerRequest: null`), as BullMQ's production guide requires for them.
 */
export function createRedis(url: string, role: "producer" | "worker"): Redis {
  if (role === "worker") {
    return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
  }
  return new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 3_000,
    lazyConnect: true,
    retryStrategy: (times) => (times > 2 ? null : 200 * times),
  });
}

/** Connects a lazily-created producer connection, with an error that names the URL on failure. */
export async function connectRedis(redis: Redis, url: string): Promise<void> {
  if (redis.status === "ready") return;
  try {
    await redis.connect();
  } catch (err) {
    throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${(err as Error).message}`);
  }
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}
