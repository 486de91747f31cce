import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/** What the demo asks of the explanation engine (issue 6) for one image. */
export interface ExplainRequest {
  /** The promoted checkpoint's directory (model.json + weights.bin). */
  checkpointDir: string;
  image: string;
  /** Class names in the model's output order, from the run's config. */
  classNames: readonly string[];
  /** Where to write the attribution overlay PNG. */
  overlayPng: string;
}

export type ExplainOutcome =
  | { kind: "unavailable"; message: string }
  | { kind: "explained"; image: string; overlayPng: string; summary: string };

export const EXPLANATIONS_UNAVAILABLE = "explanations: not available yet (issue 6)";

/**
 * The part of @xnn/ml's `explainPrediction` the demo relies on. Declared here rather than imported
 * as a type, because the demo must also run (and typecheck) on a tree where the engine is not there.
 */
type ExplainPrediction = (options: {
  checkpointDir: string;
  imagePath: string;
  classNames: readonly string[];
}) => Promise<{
  predictedClass: string;
  probabilities: Record<string, number>;
  completenessGap: number;
  stepsUsed: number;
  /** Absent from @xnn/ml builds older than the per-run baseline. */
  baseline?: string;
  overlayPng: Uint8Array;
}>;

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
 * Explains one predict/ image with the promoted model through `explainPrediction` from @xnn/ml,
 * looked up at run time: where the engine is not built yet there is no such export, and the demo
 * says so instead of drawing something that only looks like an explanation.
 */
export async function explainOne(request: ExplainRequest): Promise<ExplainOutcome> {
  const ml = (await import("@xnn/ml")) as Record<string, unknown>;
  const explainPrediction = ml.explainPrediction as ExplainPrediction | undefined;
  if (typeof explainPrediction !== "function") {
    return { kind: "unavailable", message: EXPLANATIONS_UNAVAILABLE };
  }
  // Same choice the workers make ("auto": native TensorFlow, else wasm with the gradient kernels
  // Integrated Gradients needs); without it tfjs refuses to build the model.
  const initBackend = ml.initBackend as ((kind: "auto") => Promise<unknown>) | undefined;
  await initBackend?.("auto");
  const result = await explainPrediction({
    checkpointDir: request.checkpointDir,
    imagePath: request.image,
    classNames: request.classNames,
  });
  mkdirSync(path.dirname(request.overlayPng), { recursive: true });
  writeFileSync(request.overlayPng, result.overlayPng);
  const probability = result.probabilities[result.predictedClass];
  return {
    kind: "explained",
    image: request.image,
    overlayPng: request.overlayPng,
    summary: [
      `predicted ${result.predictedClass}${probability === undefined ? "" : ` (p ${probability.toFixed(3)})`}`,
      `Integrated Gradients ${result.stepsUsed} steps against ${result.baseline ?? "black"}, completeness gap ${(result.completenessGap * 100).toFixed(1)}%`,
    ].join(", "),
  };
}
