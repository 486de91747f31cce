import type { Prisma, PrismaClient } from "@xnn/db";
import { readImageHeader } from "@xnn/ml";
import {
  type ExplainClient,
  ExplainRejectedError,
  type ExplainStatus,
  ExplainTimeoutError,
  ExplainUnavailableError,
} from "@xnn/serving";
import type { ExplainSettings, Logger } from "@xnn/shared";
import { EXPLAIN_WORKER_STALE_MS, PRODUCTION_ALIAS, sha256 } from "@xnn/shared";
import type { PredictResponse } from "@xnn/shared/records";

/** A user-caused predict failure: the route maps `status` to the HTTP answer, message verbatim. */
export class PredictError extends Error {
  override name = "PredictError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
export const MAX_PIXELS = 40_000_000;

export interface PredictRequest {
  image: Buffer;
  task?: string;
  /** A ModelVersion id, or its version number within the task. Default: the task's production alias. */
  modelVersion?: string;
}

export type { PredictResponse };

interface ResolvedVersion {
  id: string;
  task: string;
  version: number;
  alias: string | null;
  runId: string;
  checkpointUri: string;
  checkpointSha256: string;
  config: unknown;
  classNames: string[] | null;
}

const versionSelect = {
  id: true,
  task: true,
  version: true,
  alias: true,
  runId: true,
  checkpoint: { select: { uri: true, sha256: true } },
  run: { select: { config: true, confusions: { select: { classNames: true, split: true } } } },
} satisfies Prisma.ModelVersionSelect;

type VersionRow = Prisma.ModelVersionGetPayload<{ select: typeof versionSelect }>;

type Sniffed = "png" | "jpeg" | "gif" | "webp" | "tiff" | "bmp" | "avif";

/** The container format from the first bytes; what sharp would be asked to decode. */
export function sniffImageFormat(b: Buffer): Sniffed | null {
  const at = (o: number, ...bytes: number[]) => bytes.every((v, i) => b[o + i] === v);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "png";
  if (at(0, 0xff, 0xd8, 0xff)) return "jpeg";
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return "gif";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "webp";
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return "tiff";
  if (at(0, 0x42, 0x4d)) return "bmp";
  if (at(4, 0x66, 0x74, 0x79, 0x70)) return "avif";
  return null;
}

function configImageSize(config: unknown): number | undefined {
  const size = (config as { data?: { imageSize?: unknown } } | null)?.data?.imageSize;
  return typeof size === "number" ? size : undefined;
}

function configClassNames(config: unknown): string[] | undefined {
  const names = (config as { data?: { classNames?: unknown } } | null)?.data?.classNames;
  return Array.isArray(names) && names.every((n) => typeof n === "string") ? (names as string[]) : undefined;
}

/**
 * Prediction with an Integrated Gradients explanation from a registered model version. The API
 * only checks the upload and resolves the version (one indexed lookup, so a moved production alias
 * is seen at once); the explanation is computed by a worker that serves the explain queue, off this
 * process's event loop, and answered from the cache when the same image was explained before.
 */
export class PredictService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly logger: Logger,
    private readonly explainer: ExplainClient,
    private readonly options: { ig?: ExplainSettings } = {},
  ) {}

  /** Live workers that serve explanations, by their heartbeat rows. */
  static servingWorkers(prisma: PrismaClient): () => Promise<number> {
    return () =>
      prisma.worker.count({
        where: {
          explains: true,
          status: "active",
          lastHeartbeat: { gt: new Date(Date.now() - EXPLAIN_WORKER_STALE_MS) },
        },
      });
  }

  /** Validate the upload without decoding pixels: format by signature, size from the header. */
  async checkImage(image: Buffer): Promise<void> {
    const format = sniffImageFormat(image);
    if (!format)
      throw new PredictError(
        415,
        "the upload is not an image (expected PNG, JPEG, WebP, TIFF, GIF, BMP or AVIF)",
      );
    let meta: { width: number; height: number };
    try {
      meta = await readImageHeader(image);
    } catch (err) {
      throw new PredictError(400, `the ${format.toUpperCase()} image is corrupt: ${(err as Error).message}`);
    }
    const w = meta.width;
    const h = meta.height;
    if (w <= 0 || h <= 0)
      throw new PredictError(
        400,
        `the ${format.toUpperCase()} image is corrupt: no dimensions in its header`,
      );
    if (w * h > MAX_PIXELS) {
      throw new PredictError(
        413,
        `the image is ${w}x${h} = ${((w * h) / 1e6).toFixed(1)} megapixels; the limit is ${MAX_PIXELS / 1e6}`,
      );
    }
  }

  async resolveVersion(task: string | undefined, modelVersion: string | undefined): Promise<ResolvedVersion> {
    let taskName = task;
    if (!taskName) {
      const tasks = await this.prisma.modelVersion.findMany({
        distinct: ["task"],
        select: { task: true },
        take: 2,
      });
      if (tasks.length === 0)
        throw new PredictError(409, "no model has been promoted yet: promote a run to production first");
      if (tasks.length > 1)
        throw new PredictError(
          400,
          "several tasks have models: give the task as ?task=<name> or a `task` field",
        );
      taskName = (tasks[0] as { task: string }).task;
    }
    let row: VersionRow | null;
    if (modelVersion === undefined || modelVersion === "") {
      row = await this.findOne({ task_alias: { task: taskName, alias: PRODUCTION_ALIAS } });
      if (!row)
        throw new PredictError(
          409,
          `task ${taskName} has no production model yet: promote a run first, or pass modelVersion`,
        );
    } else if (/^\d+$/.test(modelVersion)) {
      row = await this.findOne({ task_version: { task: taskName, version: Number(modelVersion) } });
      if (!row) throw new PredictError(404, `task ${taskName} has no model version ${modelVersion}`);
    } else {
      row = await this.findOne({ id: modelVersion });
      if (!row || (task && row.task !== task))
        throw new PredictError(
          404,
          `no model version with id ${modelVersion}${task ? ` in task ${task}` : ""}`,
        );
    }
    const cm = row.run.confusions.find((c) => c.split === "test") ?? row.run.confusions[0];
    return {
      id: row.id,
      task: row.task,
      version: row.version,
      alias: row.alias,
      runId: row.runId,
      checkpointUri: row.checkpoint.uri,
      checkpointSha256: row.checkpoint.sha256,
      config: row.run.config,
      classNames: configClassNames(row.run.config) ?? cm?.classNames ?? null,
    };
  }

  private findOne(where: Prisma.ModelVersionWhereUniqueInput): Promise<VersionRow | null> {
    return this.prisma.modelVersion.findUnique({ where, select: versionSelect });
  }

  /** What a worker needs to explain `image` with version `v`. */
  private explainRequest(v: ResolvedVersion, image: Buffer) {
    return {
      modelVersion: { id: v.id, task: v.task, version: v.version, alias: v.alias, runId: v.runId },
      checkpoint: { uri: v.checkpointUri, sha256: v.checkpointSha256 },
      imageSize: configImageSize(v.config) ?? null,
      classNames: v.classNames,
      imageSha256: sha256(image),
      image: image.toString("base64"),
      settings: { ...this.options.ig },
    };
  }

  /** Explains and waits for the answer (the explain client's timeout). `cached`: no job was needed. */
  async predict(req: PredictRequest): Promise<{ response: PredictResponse; cached: boolean }> {
    await this.checkImage(req.image);
    const v = await this.resolveVersion(req.task, req.modelVersion);
    const { explanation, cached } = await answer(() =>
      this.explainer.explain(this.explainRequest(v, req.image)),
    );
    this.logger.debug({ versionId: v.id, cached }, "explained");
    // The version as it is now: a cached answer may predate a move of the alias.
    const modelVersion = { id: v.id, task: v.task, version: v.version, alias: v.alias, runId: v.runId };
    return { response: { ...explanation, modelVersion }, cached };
  }

  /** Starts an explanation without waiting: where it stands, to be polled with `status`. */
  async submit(req: PredictRequest): Promise<ExplainStatus> {
    await this.checkImage(req.image);
    const v = await this.resolveVersion(req.task, req.modelVersion);
    return answer(() => this.explainer.submit(this.explainRequest(v, req.image)));
  }

  status(jobId: string): Promise<ExplainStatus> {
    return this.explainer.status(jobId);
  }
}

/** The explain client's errors as the answers a user sees. */
async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ExplainUnavailableError) throw new PredictError(503, err.message);
    if (err instanceof ExplainTimeoutError) throw new PredictError(504, err.message);
    if (err instanceof ExplainRejectedError) throw new PredictError(err.status, err.message);
    throw err;
  }
}
