import { readdirSync } from "node:fs";
import path from "node:path";

/**
 * What the demo hands the explanation engine (issue 6). That engine is not in @xnn/ml yet; this is
 * the contract the demo will call once `explainPrediction` is exported from it.
 */
export interface ExplainRequest {
  /** The promoted checkpoint: its `uri` as stored in Postgres (a local directory for the demo). */
  checkpointUri: string;
  image: string;
  /** Where to write the attribution overlay PNG. */
  overlayPng: string;
}

export type ExplainOutcome =
  | { kind: "unavailable"; message: string }
  | { kind: "explained"; image: string; overlayPng: string; summary: string };

export const EXPLANATIONS_UNAVAILABLE = "explanations: not available yet (issue 6)";

type ExplainPrediction = (request: ExplainRequest) => Promise<unknown>;

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
 * looked up at run time: until issue 6 lands there is no such export, and the demo says so instead
 * of drawing something that only looks like an explanation.
 */
export async function explainOne(request: ExplainRequest): Promise<ExplainOutcome> {
  const ml = (await import("@xnn/ml")) as Record<string, unknown>;
  const explainPrediction = ml.explainPrediction as ExplainPrediction | undefined;
  if (typeof explainPrediction !== "function") {
    return { kind: "unavailable", message: EXPLANATIONS_UNAVAILABLE };
  }
  const result = await explainPrediction(request);
  return {
    kind: "explained",
    image: request.image,
    overlayPng: request.overlayPng,
    summary: summarize(result),
  };
}

/** The engine's result shape is not fixed yet: show its scalar fields, whatever they are. */
function summarize(result: unknown): string {
  if (!result || typeof result !== "object") return "";
  return Object.entries(result as Record<string, unknown>)
    .filter(([, v]) => ["string", "number", "boolean"].includes(typeof v))
    .map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toFixed(4)) : v}`)
    .join(", ");
}
