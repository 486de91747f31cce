import path from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { IMAGENET_MEAN, IMAGENET_STD } from "../data/augment.js";
import { decodeImage } from "../data/loader.js";
import type { DatasetItem } from "../data/scan.js";
import { blackBaseline } from "./integratedGradients.js";

/**
 * Integrated Gradients answers "why this output rather than the output at the baseline". Black
 * (the default) asks it against an image with nothing in it, a point these models never saw in
 * training; on the synthetic chest set their black-baseline maps spread over the whole body.
 * A class-mean baseline (`eval.baseline: { meanOf: normal }`) asks it against an average healthy
 * chest: attributions then sit where this image differs from one, which is the question a reader
 * of a chest film asks. The mean is stored in the checkpoint's model.json (userDefinedMetadata),
 * so every later explanation of the model (quality step, API, dashboard) uses the same reference.
 */

/** Training images of the class averaged into a class-mean baseline (the first ones in path order). */
export const MEAN_BASELINE_IMAGES = 64;
const METADATA_KEY = "xnnExplainBaseline";

export interface StoredBaseline {
  kind: "meanOf";
  className: string;
  images: number;
  /** Side of the square image the mean was taken at (the model's input size). */
  size: number;
  /** size * size gray values in [0, 1] (the pipeline decodes to gray), float32 little-endian, base64. */
  gray: string;
}

export interface ResolvedBaseline {
  /** Normalised [H, W, 3], what integratedGradients takes as `baseline`. */
  values: Float32Array;
  /** "black", or e.g. "mean of 64 'normal' training images". */
  description: string;
}

/** Mean gray image (values in [0, 1]) of the first `max` items in path order, at the evaluation preprocessing. */
export async function classMeanGray(
  root: string,
  items: readonly DatasetItem[],
  imageSize: number,
  max = MEAN_BASELINE_IMAGES,
): Promise<{ gray: Float32Array; images: number }> {
  const chosen = [...items].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).slice(0, max);
  if (chosen.length === 0) throw new Error("classMeanGray: no images to average");
  const gray = new Float64Array(imageSize * imageSize);
  const m0 = IMAGENET_MEAN[0];
  const s0 = IMAGENET_STD[0];
  for (const item of chosen) {
    const x = await decodeImage(path.join(root, item.path), { imageSize });
    for (let p = 0; p < gray.length; p++) gray[p] = (gray[p] as number) + (x[p * 3] as number) * s0 + m0;
  }
  return { gray: Float32Array.from(gray, (v) => v / chosen.length), images: chosen.length };
}

/** Records a class-mean baseline on the model, so saved checkpoints carry it. */
export function setModelBaseline(
  model: tf.LayersModel,
  b: { className: string; images: number; size: number; gray: Float32Array },
): void {
  if (b.gray.length !== b.size * b.size)
    throw new Error(`setModelBaseline: ${b.gray.length} gray values for a ${b.size}x${b.size} image`);
  const stored: StoredBaseline = {
    kind: "meanOf",
    className: b.className,
    images: b.images,
    size: b.size,
    gray: grayBytes(b.gray).toString("base64"),
  };
  const previous = (model.getUserDefinedMetadata() ?? {}) as Record<string, unknown>;
  model.setUserDefinedMetadata({ ...previous, [METADATA_KEY]: stored });
}

function grayBytes(gray: Float32Array): Buffer {
  const out = Buffer.alloc(gray.length * 4);
  for (let p = 0; p < gray.length; p++) out.writeFloatLE(gray[p] as number, p * 4);
  return out;
}

/**
 * The model's IG baseline: the class mean recorded in its checkpoint, normalised like the inputs,
 * or black when there is none (checkpoints written before baselines were stored, or runs with
 * the default). A record that does not fit the model is an error naming what is wrong.
 */
export function modelBaseline(
  model: tf.LayersModel,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): ResolvedBaseline {
  const shape = model.inputs[0]?.shape;
  const H = shape?.[1];
  const W = shape?.[2];
  if (typeof H !== "number" || typeof W !== "number")
    throw new Error(`modelBaseline: model input must be [null, H, W, 3], got [${shape?.join(", ")}]`);
  const raw = (model.getUserDefinedMetadata() as Record<string, unknown> | undefined)?.[METADATA_KEY];
  if (raw === undefined) return { values: blackBaseline(H, W, mean, std), description: "black" };
  const s = raw as Partial<StoredBaseline>;
  const where = `model.json userDefinedMetadata.${METADATA_KEY}`;
  if (s.kind !== "meanOf" || typeof s.gray !== "string" || typeof s.className !== "string")
    throw new Error(`${where}: expected { kind: "meanOf", className, images, size, gray }`);
  if (s.size !== H || H !== W)
    throw new Error(`${where}: baseline is ${s.size}x${s.size} but the model takes ${H}x${W} inputs`);
  const bytes = Buffer.from(s.gray, "base64");
  if (bytes.byteLength !== H * W * 4)
    throw new Error(
      `${where}: ${bytes.byteLength} bytes of gray values, expected ${H * W * 4} (${H}x${W} float32)`,
    );
  const gray = new Float32Array(H * W);
  for (let p = 0; p < gray.length; p++) gray[p] = bytes.readFloatLE(p * 4);
  const values = new Float32Array(H * W * 3);
  for (let p = 0; p < gray.length; p++)
    for (let c = 0; c < 3; c++)
      values[p * 3 + c] = ((gray[p] as number) - (mean[c] as number)) / (std[c] as number);
  return { values, description: `mean of ${s.images} '${s.className}' training images` };
}

/**
 * The baseline an explanation of `model` uses: the caller's override ("black" or explicit values)
 * when given, else the one the checkpoint records (black when none).
 */
export function resolveBaseline(
  model: tf.LayersModel,
  override: "black" | Float32Array | undefined,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): ResolvedBaseline {
  if (override === undefined) return modelBaseline(model, mean, std);
  if (override !== "black") return { values: override, description: "custom" };
  const shape = model.inputs[0]?.shape;
  return {
    values: blackBaseline(shape?.[1] as number, shape?.[2] as number, mean, std),
    description: "black",
  };
}
