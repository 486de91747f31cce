import { findOnPath } from "./findOnPath";

/** Where each backing service comes from: a URL the user gave, or a process the demo starts. */
export interface ServicePlan {
  postgres: { kind: "external"; url: string } | { kind: "pglite" };
  redis: { kind: "external"; url: string } | { kind: "redis-server"; bin: string };
}

export class MissingRedisError extends Error {
  override name = "MissingRedisError";
}

export const NO_REDIS_MESSAGE = `The demo needs Redis, and there is no REDIS_URL and no redis-server on PATH.
Get one of these, then run \`pnpm demo\` again:
  - Debian/Ubuntu: sudo apt-get install -y redis-server   (the demo starts its own redis-server on a free port)
  - macOS:         brew install redis
  - Docker:        docker compose -f docker/compose.yaml up -d redis   then REDIS_URL=redis://127.0.0.1:6379 pnpm demo
  - or point REDIS_URL at a Redis you already have: REDIS_URL=redis://host:6379 pnpm demo
Nothing was created or started.`;

/**
 * Decides what to start before anything is touched, so a missing Redis is reported while the disk
 * is still exactly as the user left it. Postgres never blocks: PGlite ships in node_modules.
 */
export function planServices(env: NodeJS.ProcessEnv = process.env): ServicePlan {
  const postgres: ServicePlan["postgres"] = env.DATABASE_URL
    ? { kind: "external", url: env.DATABASE_URL }
    : { kind: "pglite" };
  if (env.REDIS_URL) return { postgres, redis: { kind: "external", url: env.REDIS_URL } };
  const bin = findOnPath("redis-server", env.PATH ?? "");
  if (!bin) throw new MissingRedisError(NO_REDIS_MESSAGE);
  return { postgres, redis: { kind: "redis-server", bin } };
}
