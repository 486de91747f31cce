import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { PrismaClient } from "@xnn/db";
import { PredictService } from "@xnn/scheduler";
import { ExplainClient } from "@xnn/serving";
import { createLogger } from "@xnn/shared";
import type { Redis } from "ioredis";

/** What the demo asks for one image: the promoted version explains it, as POST /api/predict would. */
export interface ExplainRequest {
  prisma: PrismaClient;
  /** A producer connection to the demo's Redis. */
  redis: Redis;
  prefix: string;
  task: string;
  versionId: string;
  image: string;
  /** Where to write the attribution overlay PNG. */
  overlayPng: string;
  /** How long to wait for a worker's answer. */
  timeoutMs?: number;
}

export interface ExplainOutcome {
  image: string;
  overlayPng: string;
  summary: string;
}

/** The first image under `<dataDir>/predict/`, in a stable order, or null when there is none. */
export function firstPredictImage(dataDir: string): string | null {
  const root = path.join(dataDir, "predict");
  let classes: string[];
  try {
    classes = readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return null;
  }
  for (const c of classes) {
    const files = readdirSync(path.join(root, c))
      .filter((f) => /\.(png|jpe?g)$/i.test(f))
      .sort();
    if (files[0]) return path.join(root, c, files[0]);
  }
  return null;
}

/**
 * Explains one predict/ image through the explain queue: the demo's workers compute it in their
 * explain threads (the same path as POST /api/predict and the dashboard's Explain page), so the
 * demo's own event loop, which watches its child processes, never computes.
 */
export async function explainOne(request: ExplainRequest): Promise<ExplainOutcome> {
  const explainer = new ExplainClient({
    redis: request.redis,
    prefix: request.prefix,
    timeoutMs: request.timeoutMs ?? 300_000,
    servingWorkers: PredictService.servingWorkers(request.prisma),
  });
  try {
    const service = new PredictService(request.prisma, createLogger("demo", "silent"), explainer);
    const { response } = await service.predict({
      image: readFileSync(request.image),
      task: request.task,
      modelVersion: request.versionId,
    });
    mkdirSync(path.dirname(request.overlayPng), { recursive: true });
    writeFileSync(request.overlayPng, Buffer.from(response.overlayPng, "base64"));
    const probability = response.probabilities[response.predictedClass];
    return {
      image: request.image,
      overlayPng: request.overlayPng,
      summary: [
        `predicted ${response.predictedClass}${probability === undefined ? "" : ` (p ${probability.toFixed(3)})`}`,
        `Integrated Gradients ${response.stepsUsed} steps against ${response.baseline}, completeness gap ${(response.completenessGap * 100).toFixed(1)}%`,
      ].join(", "),
    };
  } finally {
    await explainer.close();
  }
}
