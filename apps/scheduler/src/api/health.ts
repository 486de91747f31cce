import type { Request, Response } from "express";
import type { ApiDeps } from "./deps";

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${what} did not answer in ${CHECK_TIMEOUT_MS} ms`)),
        CHECK_TIMEOUT_MS,
      ).unref(),
    ),
  ]);
}

/** GET /healthz: 200 when Postgres and Redis both answer, else 503 naming the one that does not. */
export function healthHandler(deps: Pick<ApiDeps, "sql" | "redis">) {
  return async (_req: Request, res: Response) => {
    const [postgres, redis] = await Promise.all([
      withTimeout(deps.sql`SELECT 1`, "postgres").then(
        () => "ok",
        (err: Error) => `down: ${err.message}`,
      ),
      withTimeout(deps.redis.ping(), "redis").then(
        () => "ok",
        (err: Error) => `down: ${err.message}`,
      ),
    ]);
    res.status(postgres === "ok" && redis === "ok" ? 200 : 503).json({ postgres, redis });
  };
}
