import path from "node:path";
import { fileURLToPath } from "node:url";
import { S3Client } from "@aws-sdk/client-s3";
import { z } from "zod";
import type { ArtifactStore } from "./artifactStore";
import { FileArtifactStore } from "./fileArtifactStore";
import { LocalArtifactCache } from "./localCache";
import { S3ArtifactStore } from "./s3ArtifactStore";

/** The artifact settings every entry point parses (merged into its own env schema). */
export const artifactEnvShape = {
  /** `file:///abs/path` or `s3://bucket/prefix`; unset: ARTIFACT_DIR on local disk. */
  ARTIFACT_URL: z.preprocess(
    (v) => (v === "" ? undefined : v),
    z
      .string()
      .regex(/^(file:\/\/\/|s3:\/\/[^/]+)/, "expected file:///absolute/path or s3://bucket/prefix")
      .optional(),
  ),
  ARTIFACT_DIR: z.string().min(1).default(".xnn/artifacts"),
  /** Where a host keeps downloaded artifacts (s3 only), shared by its processes. */
  XNN_ARTIFACT_CACHE_DIR: z.string().min(1).default(".xnn/artifact-cache"),
  XNN_ARTIFACT_CACHE_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(10 * 1024 ** 3),
};

export interface ArtifactStoreOptions {
  /** The local store (ARTIFACT_URL unset). */
  artifactDir: string;
  cacheDir: string;
  cacheBytes: number;
  /** AWS_ENDPOINT_URL, AWS_REGION, credentials...: the SDK reads its own; default process.env. */
  env?: Record<string, string | undefined>;
}

/** The store ARTIFACT_URL names. Nothing is contacted here: call `verifyArtifactStore` at start-up. */
export function createArtifactStore(url: string | undefined, opts: ArtifactStoreOptions): ArtifactStore {
  if (url === undefined || url === "") return new FileArtifactStore(path.resolve(opts.artifactDir));
  if (url.startsWith("file://")) {
    const dir = fileURLToPath(url);
    if (!path.isAbsolute(dir)) throw new Error(`ARTIFACT_URL=${url} must be an absolute file:/// URL`);
    return new FileArtifactStore(dir);
  }
  if (url.startsWith("s3://")) {
    const env = opts.env ?? process.env;
    const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
    const client = new S3Client({
      region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
      ...(endpoint ? { endpoint } : {}),
      // MinIO, s3rver and most self-hosted services have no per-bucket DNS names.
      forcePathStyle: env.XNN_S3_FORCE_PATH_STYLE ? env.XNN_S3_FORCE_PATH_STYLE === "true" : !!endpoint,
      ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            credentials: {
              accessKeyId: env.AWS_ACCESS_KEY_ID,
              secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
              ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
            },
          }
        : {}),
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
    });
    return new S3ArtifactStore(
      url,
      client,
      new LocalArtifactCache(opts.cacheDir, opts.cacheBytes),
      // Data sets are few and read for hours: their own cache, outside the checkpoints' byte bound.
      new LocalArtifactCache(path.join(opts.cacheDir, "datasets"), Number.MAX_SAFE_INTEGER),
    );
  }
  throw new Error(`ARTIFACT_URL=${url} is invalid: expected file:///absolute/path or s3://bucket/prefix`);
}

/** Env (as parsed with artifactEnvShape) -> store. */
export function artifactStoreFromEnv(
  env: {
    ARTIFACT_URL?: string | undefined;
    ARTIFACT_DIR: string;
    XNN_ARTIFACT_CACHE_DIR: string;
    XNN_ARTIFACT_CACHE_BYTES: number;
  },
  raw: Record<string, string | undefined> = process.env,
): ArtifactStore {
  return createArtifactStore(env.ARTIFACT_URL, {
    artifactDir: env.ARTIFACT_DIR,
    cacheDir: env.XNN_ARTIFACT_CACHE_DIR,
    cacheBytes: env.XNN_ARTIFACT_CACHE_BYTES,
    env: raw,
  });
}

/**
 * Start-up check for workers and the API: refuse to start on an unreachable endpoint, a missing
 * bucket or wrong credentials, with a message naming ARTIFACT_URL and the store's own error.
 */
export async function verifyArtifactStore(
  store: ArtifactStore,
  opts: { write?: boolean } = {},
): Promise<void> {
  await store.verify(opts);
}
