import { ArtifactIntegrityError, ArtifactNotFoundError, type ArtifactStore } from "@xnn/artifacts";
import type { Prisma, PrismaClient } from "@xnn/db";
import {
  decodeImageBuffer,
  explainPrediction,
  initBackend,
  loadCheckpoint,
  prepareForExplanation,
  readImageHeader,
} from "@xnn/ml";
import type { Logger } from "@xnn/shared";
import { PRODUCTION_ALIAS, type PredictResponse } from "@xnn/shared/records";

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

interface LoadedModel {
  versionId: string;
  model: Awaited<ReturnType<typeof loadCheckpoint>>;
  /** The same function with BatchNorm folded and convs fused: what IG runs (made once per load). */
  explanationModel: Awaited<ReturnType<typeof loadCheckpoint>>;
  classNames: string[];
  imageSize: number;
}

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
 * Prediction with an Integrated Gradients explanation from a registered model version. Keeps the
 * production model of each task loaded and checks on every request (one indexed lookup) whether
 * the alias has moved; explanations run one at a time, as each one saturates the core tfjs uses.
 */
export class PredictService {
  private readonly loaded = new Map<string, LoadedModel>();
  private queue: Promise<unknown> = Promise.resolve();
  private backendReady: Promise<unknown> | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly logger: Logger,
    private readonly artifacts: ArtifactStore,
    private readonly options: { maxLoaded?: number; ig?: { maxSteps?: number; tolerance?: number } } = {},
  ) {}

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

  private async modelFor(v: ResolvedVersion): Promise<LoadedModel> {
    const hit = this.loaded.get(v.id);
    if (hit) {
      // Refresh recency.
      this.loaded.delete(v.id);
      this.loaded.set(v.id, hit);
      return hit;
    }
    this.backendReady ??= initBackend("auto");
    await this.backendReady;
    const dir = await this.checkpointDir(v);
    const model = await loadCheckpoint(dir);
    const shape = model.inputs[0]?.shape;
    const imageSize = configImageSize(v.config) ?? (typeof shape?.[1] === "number" ? shape[1] : undefined);
    if (imageSize === undefined) {
      model.dispose();
      throw new Error(`model version ${v.id}: neither the run config nor the model gives an input size`);
    }
    const outputs = (model.outputs[0]?.shape[1] as number | undefined) ?? 0;
    const classNames = v.classNames ?? Array.from({ length: outputs }, (_, i) => `class_${i}`);
    let explanationModel: LoadedModel["explanationModel"];
    try {
      explanationModel = prepareForExplanation(model);
    } catch (err) {
      model.dispose();
      throw err;
    }
    const entry = { versionId: v.id, model, explanationModel, classNames, imageSize };
    this.loaded.set(v.id, entry);
    // Evict least recently used: a moved production alias leaves its old model here until then.
    const max = this.options.maxLoaded ?? 2;
    while (this.loaded.size > max) {
      const [oldest, old] = this.loaded.entries().next().value as [string, LoadedModel];
      this.loaded.delete(oldest);
      old.model.dispose();
      old.explanationModel.dispose();
      this.logger.info({ versionId: oldest }, "unloaded model version");
    }
    this.logger.info(
      { versionId: v.id, task: v.task, version: v.version, imageSize },
      "loaded model version",
    );
    return entry;
  }

  /**
   * The version's checkpoint, verified against the sha256 Postgres recorded for it. Gone from the
   * store or corrupt: a 409 naming the version, and the API serves on.
   */
  private async checkpointDir(v: ResolvedVersion): Promise<string> {
    const name = `model version ${v.version} of task ${v.task} (${v.id})`;
    try {
      return await this.artifacts.getDir(v.checkpointUri, { sha256: v.checkpointSha256 });
    } catch (err) {
      if (err instanceof ArtifactNotFoundError)
        throw new PredictError(
          409,
          `${name}: its checkpoint ${v.checkpointUri} is missing from the artifact store`,
        );
      if (err instanceof ArtifactIntegrityError)
        throw new PredictError(409, `${name}: its checkpoint failed verification: ${err.message}`);
      throw err;
    }
  }

  /** Ids of the model versions currently in memory (for tests and /metrics). */
  loadedVersionIds(): string[] {
    return [...this.loaded.keys()];
  }

  async predict(req: PredictRequest): Promise<PredictResponse> {
    await this.checkImage(req.image);
    const v = await this.resolveVersion(req.task, req.modelVersion);
    // Serialised: loading, eviction and the explanation itself never overlap another request's.
    const run = this.queue.then(async () => {
      const m = await this.modelFor(v);
      let input: Float32Array;
      try {
        // The evaluation preprocessing; the header was fine, so a failure here is a damaged body.
        input = await decodeImageBuffer(req.image, { imageSize: m.imageSize });
      } catch (err) {
        throw new PredictError(400, `the image is corrupt and cannot be decoded: ${(err as Error).message}`);
      }
      return explainPrediction({
        model: m.model,
        explanationModel: m.explanationModel,
        input,
        classNames: m.classNames,
        ig: { ...this.options.ig },
      });
    });
    this.queue = run.catch(() => undefined);
    const e = await run;
    return {
      predictedClass: e.predictedClass,
      probabilities: e.probabilities,
      modelVersion: { id: v.id, task: v.task, version: v.version, alias: v.alias, runId: v.runId },
      completenessGap: e.completenessGap,
      stepsUsed: e.stepsUsed,
      baseline: e.baseline,
      overlayPng: e.overlayPng.toString("base64"),
    };
  }

  dispose(): void {
    for (const m of this.loaded.values()) {
      m.model.dispose();
      m.explanationModel.dispose();
    }
    this.loaded.clear();
  }
}
