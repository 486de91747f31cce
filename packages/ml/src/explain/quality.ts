import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { type PipelineConfig, StopRequestedError } from "@xnn/shared";
import type { ExplanationQuality, ProbeScore } from "@xnn/shared/records";
import { loadCheckpoint } from "../checkpoint/checkpoint.js";
import { decodeImage } from "../data/loader.js";
import { type DatasetItem, scanDataset } from "../data/scan.js";
import { resolveBaseline } from "./baseline.js";
import { prepareForExplanation } from "./foldBatchNorm.js";
import { type IntegratedGradientsOptions, integratedGradients } from "./integratedGradients.js";
import { loadMask, positiveMaskShare } from "./maskShare.js";
import { pixelAttributions } from "./renderOverlay.js";

export interface ExplanationQualityOptions {
  /** Data set root (the run's data.dir). */
  dataDir: string;
  imageSize: number;
  /** Images per class in the probe set (the run's eval.probePerClass). */
  probePerClass: number;
  split?: "test" | "val";
  /** Points on the deletion/insertion curves (fractions 0, 1/(n-1), ..., 1). Default 21. */
  curvePoints?: number;
  ig?: IntegratedGradientsOptions;
  /** Polled before each probe image; returning true aborts with StopRequestedError (nothing is scored). */
  shouldStop?: () => boolean;
}

// The records live in packages/shared (they reach the worker, the database and the dashboard).
export type { ExplanationQuality, ProbeScore };

/** A fixed probe set: the first `perClass` test images of each class in path order, so every run of a task scores the same images. */
export function probeSet(items: readonly DatasetItem[], perClass: number): DatasetItem[] {
  const byClass = new Map<number, DatasetItem[]>();
  for (const it of [...items].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const list = byClass.get(it.label) ?? [];
    if (list.length < perClass) list.push(it);
    byClass.set(it.label, list);
  }
  return [...byClass.keys()].sort((a, b) => a - b).flatMap((k) => byClass.get(k) ?? []);
}

function trapezoid(ys: readonly number[]): number {
  let s = 0;
  for (let i = 1; i < ys.length; i++) s += ((ys[i - 1] as number) + (ys[i] as number)) / 2;
  return s / (ys.length - 1);
}

/**
 * Deletion and insertion curves (Petsiuk et al. 2018, RISE): pixels ranked by channel-summed
 * attribution, most positive first; deletion replaces the top fraction of x with the baseline,
 * insertion puts the top fraction of x into the baseline. Returns the areas under the target-class
 * probability curves on [0, 1].
 */
export function deletionInsertionAuc(
  model: tf.LayersModel,
  x: Float32Array,
  baseline: Float32Array,
  attributions: Float32Array,
  target: number,
  points = 21,
): { deletion: number; insertion: number } {
  const pixels = x.length / 3;
  const per = pixelAttributions(attributions, pixels);
  const order = Array.from({ length: pixels }, (_, i) => i).sort(
    (a, b) => (per[b] as number) - (per[a] as number),
  );
  const [H, W] = [model.inputs[0]?.shape[1] as number, model.inputs[0]?.shape[2] as number];
  const curves = { deletion: [] as number[], insertion: [] as number[] };
  for (const kind of ["deletion", "insertion"] as const) {
    const batch = new Float32Array(points * x.length);
    for (let k = 0; k < points; k++) {
      const img = kind === "deletion" ? Float32Array.from(x) : Float32Array.from(baseline);
      const count = Math.round((k / (points - 1)) * pixels);
      const src = kind === "deletion" ? baseline : x;
      for (let j = 0; j < count; j++) {
        const p = order[j] as number;
        for (let c = 0; c < 3; c++) img[p * 3 + c] = src[p * 3 + c] as number;
      }
      batch.set(img, k * x.length);
    }
    const probs = tf.tidy(() =>
      tf.softmax(model.predict(tf.tensor4d(batch, [points, H, W, 3])) as tf.Tensor2D).arraySync(),
    ) as number[][];
    curves[kind] = probs.map((row) => row[target] as number);
  }
  return { deletion: trapezoid(curves.deletion), insertion: trapezoid(curves.insertion) };
}

/**
 * Explanation quality of one trained model on a fixed probe set: mean IG completeness gap,
 * deletion/insertion AUC and, where the data set has lesion masks, the share of positive
 * attribution inside the mask. Attributions are for each image's true class (what the model
 * should be using), not its prediction, so two runs are scored on the same question.
 */
export async function explanationQuality(
  model: tf.LayersModel,
  opts: ExplanationQualityOptions,
): Promise<ExplanationQuality> {
  const started = performance.now();
  const scanned = await scanDataset(opts.dataDir);
  const probes = probeSet(scanned.splits[opts.split ?? "test"], opts.probePerClass);
  // The model's own reference (a class mean recorded at training time) unless the caller overrides it.
  const { values: baseline, description: baselineName } = resolveBaseline(
    model,
    opts.ig?.baseline,
    opts.ig?.mean,
    opts.ig?.std,
  );
  const perImage: ProbeScore[] = [];
  // IG and the curves run the folded, fused model (same function, ~3x faster gradients).
  const runModel = prepareForExplanation(model);
  try {
    for (const item of probes) {
      if (opts.shouldStop?.()) {
        throw new StopRequestedError(
          `explanation quality stopped on request after ${perImage.length} of ${probes.length} probe images`,
        );
      }
      const x = await decodeImage(path.join(scanned.root, item.path), { imageSize: opts.imageSize });
      const ig = await integratedGradients(runModel, x, { ...opts.ig, target: item.label, baseline });
      const auc = deletionInsertionAuc(
        runModel,
        x,
        baseline,
        ig.attributions,
        item.label,
        opts.curvePoints ?? 21,
      );
      let maskShare: number | null = null;
      if (item.maskPath) {
        const mask = await loadMask(path.join(scanned.root, item.maskPath), opts.imageSize);
        // An empty mask (a class without lesions) would always score 0 and only dilute the mean.
        if (mask.some((v) => v > 0)) {
          const share = positiveMaskShare(ig.attributions, mask);
          maskShare = Number.isNaN(share) ? null : share;
        }
      }
      perImage.push({
        path: item.path,
        label: item.label,
        completenessGap: ig.completenessGap,
        stepsUsed: ig.stepsUsed,
        deletionAuc: auc.deletion,
        insertionAuc: auc.insertion,
        maskShare,
      });
    }
  } finally {
    runModel.dispose();
  }
  const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN);
  const shares = perImage.map((p) => p.maskShare).filter((s): s is number => s !== null);
  return {
    baseline: baselineName,
    probeImages: perImage.length,
    completenessGap: mean(perImage.map((p) => p.completenessGap)),
    stepsUsed: mean(perImage.map((p) => p.stepsUsed)),
    deletionAuc: mean(perImage.map((p) => p.deletionAuc)),
    insertionAuc: mean(perImage.map((p) => p.insertionAuc)),
    maskShare: shares.length ? mean(shares) : null,
    perImage,
    durationMs: Math.round(performance.now() - started),
  };
}

/**
 * The quality step of a finished run: its best checkpoint (as saved), scored on the run's own data
 * set, image size and `eval.probePerClass` test images per class. Null when probePerClass is 0.
 */
export async function runExplanationQuality(
  config: PipelineConfig,
  checkpointDir: string,
  opts: Pick<ExplanationQualityOptions, "shouldStop" | "ig" | "curvePoints"> = {},
): Promise<ExplanationQuality | null> {
  if (config.eval.probePerClass <= 0) return null;
  const model = await loadCheckpoint(checkpointDir);
  try {
    return await explanationQuality(model, {
      ...opts,
      dataDir: config.data.dir,
      imageSize: config.data.imageSize,
      probePerClass: config.eval.probePerClass,
    });
  } finally {
    model.dispose();
  }
}

/** The aggregate figures rounded for a structured log line (no per-image detail). */
export function qualityLogFields(q: ExplanationQuality): Record<string, number | string | null> {
  const r = (v: number | null, d = 4) => (v === null || !Number.isFinite(v) ? null : Number(v.toFixed(d)));
  return {
    baseline: q.baseline,
    probeImages: q.probeImages,
    completenessGap: r(q.completenessGap),
    stepsUsed: r(q.stepsUsed, 1),
    deletionAuc: r(q.deletionAuc),
    insertionAuc: r(q.insertionAuc),
    maskShare: r(q.maskShare),
    durationMs: q.durationMs,
  };
}
