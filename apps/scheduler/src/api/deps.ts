import { type ArtifactStore, FileArtifactStore } from "@xnn/artifacts";
import type { PrismaClient, Sql } from "@xnn/db";
import type { Logger } from "@xnn/shared";
import type { Redis } from "ioredis";
import type { AuthFailureLimiter } from "./authFailureLimiter";

/** Everything the HTTP API needs, built once by the entry point (or a test) and passed in. */
export interface ApiDeps {
  prisma: PrismaClient;
  /** postgres.js: the set-based reads behind /api/compare and the LISTEN behind /api/events. */
  sql: Sql;
  /** A producer connection (see createRedis); shared by the queue handle and the cancel flags. */
  redis: Redis;
  /** BullMQ key prefix (XNN_QUEUE_PREFIX). */
  prefix: string;
  /** Directory a submitted sweep's `base:` is resolved against. */
  confDir: string;
  /** Base of relative `data.dir` in run configs (XNN_DATA_ROOT, as for workers); default: the working directory. */
  dataRoot?: string;
  /**
   * Directories a submitted sweep's `data.dir` and `model.pretrainedDir`, and the predict samples, must stay inside
   * (XNN_DATA_ROOTS); default: `[dataRoot]`.
   */
  dataRoots?: string[];
  /** Blocks addresses that fail token checks too often; createServer makes one when absent. */
  authLimiter?: AuthFailureLimiter;
  logger: Logger;
  /** How long POST /api/predict waits for an explanation (XNN_EXPLAIN_TIMEOUT_MS) before a 504. */
  explainTimeoutMs?: number;
  /** Where checkpoints are read from (ARTIFACT_URL); default: local files, read where they are. */
  artifacts?: ArtifactStore;
  /** Where data set thumbnails are cached; default .xnn/thumbnails. */
  thumbnailDir?: string;
  /** A built dashboard (apps/dashboard/dist) to serve on the same origin, for every non-API path. */
  dashboardDir?: string;
}

/** The configured store, or local files (ARTIFACT_URL unset): file:// URIs are read where they are. */
export function artifactsOf(deps: ApiDeps): ArtifactStore {
  return deps.artifacts ?? new FileArtifactStore(".xnn/artifacts");
}
