import { Redis } from "ioredis";

/**
 * Producers fail fast when Redis is down, so a user hears about it at once: "producer" (a CLI) gives
 * up reconnecting after a few tries, "server" (the API) keeps reconnecting so it recovers from a
 * Redis restart while its commands still fail fast in between. Workers wait and retry forever
 * (`maxRetriesPerRequest: null`), as BullMQ's production guide requires for them.
 */
export function createRedis(url: string, role: "producer" | "server" | "worker"): Redis {
  if (role === "worker") {
    return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
  }
  return new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 3_000,
    lazyConnect: true,
    retryStrategy:
      role === "server"
        ? (times) => Math.min(times * 200, 5_000)
        : (times) => (times > 2 ? null : 200 * times),
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
