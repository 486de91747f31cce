import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { explainPrediction, initBackend } from "@xnn/ml";

/** What the demo asks of the explanation engine for one image. */
export interface ExplainRequest {
  /** The promoted checkpoint's directory (model.json + weights.bin). */
  checkpointDir: string;
  image: string;
  /** Class names in the model's output order, from the run's config. */
  classNames: readonly string[];
  /** Where to write the attribution overlay PNG. */
  overlayPng: string;
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

/** Explains one predict/ image with the promoted model through @xnn/ml's `explainPrediction`. */
export async function explainOne(request: ExplainRequest): Promise<ExplainOutcome> {
  // Same choice the workers make ("auto": native TensorFlow, else wasm with the gradient kernels
  // Integrated Gradients needs); without it tfjs refuses to build the model.
  await initBackend("auto");
  const result = await explainPrediction({
    checkpointDir: request.checkpointDir,
    imagePath: request.image,
    classNames: request.classNames,
  });
  mkdirSync(path.dirname(request.overlayPng), { recursive: true });
  writeFileSync(request.overlayPng, result.overlayPng);
  const probability = result.probabilities[result.predictedClass];
  return {
    image: request.image,
    overlayPng: request.overlayPng,
    summary: [
      `predicted ${result.predictedClass}${probability === undefined ? "" : ` (p ${probability.toFixed(3)})`}`,
      `Integrated Gradients ${result.stepsUsed} steps against ${result.baseline ?? "black"}, completeness gap ${(result.completenessGap * 100).toFixed(1)}%`,
    ].join(", "),
  };
}
