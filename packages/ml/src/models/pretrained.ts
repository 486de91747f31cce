import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { readManifest, readModelArtifacts } from "../checkpoint/checkpoint.js";
import {
  describeNormalization,
  IMAGENET_RGB,
  type ImportedWeights,
  type InputNormalization,
  importedWeightsSchema,
  sameNormalization,
} from "../weights/manifest.js";
import type { WeightsConvention } from "./conventions.js";

/** The `imported` section of a directory written by `xnn weights import`; null for other tfjs directories. */
export async function readImportedWeights(dir: string): Promise<ImportedWeights | null> {
  let manifest: Awaited<ReturnType<typeof readManifest>>;
  try {
    manifest = await readManifest(dir);
  } catch (err) {
    throw new Error(`pretrained weights in ${dir}: ${(err as Error).message}`);
  }
  const raw = (manifest as { imported?: unknown } | null)?.imported;
  if (raw === undefined) return null;
  const parsed = importedWeightsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `pretrained weights in ${dir}: ${path.join(dir, "manifest.json")} field 'imported.${issue?.path.join(".")}': ${issue?.message}`,
    );
  }
  return parsed.data;
}

/**
 * An imported directory records what its weights were made for; a model built differently, or
 * fed inputs normalised differently, would compute something else than the source did without
 * any error. So a mismatch is an error naming the directory and both values.
 */
export function checkImportedWeights(
  imported: ImportedWeights,
  dir: string,
  opts: {
    arch: string;
    widthMultiplier?: number;
    convention?: WeightsConvention;
    inputNormalization?: InputNormalization;
    pretrainedHead?: boolean;
    numClasses: number;
  },
): void {
  const where = `pretrained weights in ${dir} (imported from ${imported.source.file})`;
  if (imported.arch !== opts.arch)
    throw new Error(`${where} are for arch ${imported.arch}, not ${opts.arch}`);
  const alpha = opts.widthMultiplier ?? 1;
  if (imported.widthMultiplier !== alpha)
    throw new Error(`${where} have width multiplier ${imported.widthMultiplier}, not ${alpha}`);
  if (opts.convention !== undefined && opts.convention !== imported.convention)
    throw new Error(
      `${where} were trained with ${imported.convention} conventions (padding ${imported.padding}, BatchNorm eps ${imported.bnEpsilon}); the model asks for '${opts.convention}'`,
    );
  const expected = opts.inputNormalization ?? IMAGENET_RGB;
  if (!sameNormalization(imported.input, expected))
    throw new Error(
      `${where} expect inputs normalised as ${describeNormalization(imported.input)}, but the pipeline normalises as ${describeNormalization(expected)}`,
    );
  if (opts.pretrainedHead) {
    if (imported.classifierClasses === null)
      throw new Error(`${where} hold no classifier (pretrainedHead asked for one)`);
    if (imported.classifierClasses !== opts.numClasses)
      throw new Error(
        `${where} hold a ${imported.classifierClasses}-class classifier, not ${opts.numClasses} classes`,
      );
  }
}

function shortName(weightPath: string): string {
  const i = weightPath.lastIndexOf("/");
  return i < 0 ? weightPath : weightPath.slice(i + 1);
}

/**
 * Copies weights from a converted tfjs LayersModel directory into our backbone, by layer name.
 * Weights are decoded straight from the weights manifest instead of rebuilding the source model,
 * so a topology tfjs cannot deserialize (newer Keras layer configs, Lambda layers) doesn't matter:
 * only weight names "<layer>/<weight>" (optionally under an outer model scope) and shapes do.
 */
export async function loadPretrainedBackbone(
  model: tf.LayersModel,
  backboneLayerNames: string[],
  dir: string,
): Promise<string[]> {
  let artifacts: tf.io.ModelArtifacts;
  try {
    artifacts = await readModelArtifacts(dir);
  } catch (err) {
    throw new Error(`pretrained weights in ${dir}: ${(err as Error).message}`);
  }
  if (!artifacts.weightSpecs || artifacts.weightData === undefined)
    throw new Error(`pretrained weights in ${dir}: model.json lists no weights`);
  const named = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);

  // Index source tensors by "<layer>/<weight>" suffix; converted names may carry a model scope
  // ("mobilenetv2_1.00_224/Conv1/kernel") or a ":0" suffix.
  const byLayer = new Map<string, Map<string, tf.Tensor>>();
  for (const [full, t] of Object.entries(named)) {
    const parts = full.replace(/:0$/, "").split("/");
    if (parts.length < 2) continue;
    const weight = parts[parts.length - 1] as string;
    const layer = parts[parts.length - 2] as string;
    let m = byLayer.get(layer);
    if (!m) {
      m = new Map();
      byLayer.set(layer, m);
    }
    m.set(weight, t);
  }

  try {
    const missing: string[] = [];
    const copied: string[] = [];
    const plans: Array<{ layer: tf.layers.Layer; values: tf.Tensor[] }> = [];
    for (const name of backboneLayerNames) {
      const layer = model.getLayer(name);
      if (layer.weights.length === 0) continue;
      const src = byLayer.get(name);
      if (!src) {
        missing.push(name);
        continue;
      }
      const values = layer.weights.map((w) => {
        const key = shortName(w.originalName);
        const t = src.get(key);
        if (!t)
          throw new Error(
            `pretrained weights in ${dir}: layer '${name}' has no weight '${key}' (found: ${[...src.keys()].join(", ")})`,
          );
        if (!tf.util.arraysEqual(t.shape, w.shape as number[])) {
          throw new Error(
            `pretrained weights in ${dir}: shape mismatch for layer '${name}' weight '${key}': file has [${t.shape}], model expects [${w.shape}] (wrong arch, width multiplier or layer naming?)`,
          );
        }
        return t;
      });
      plans.push({ layer, values });
    }
    if (missing.length > 0) {
      throw new Error(
        `pretrained weights in ${dir}: ${missing.length} backbone layer(s) not found, e.g. ${missing.slice(0, 5).join(", ")} (see packages/ml/src/models/README.md for the required names)`,
      );
    }
    // Only write after everything validated, so a failed load never leaves a half-pretrained model.
    for (const { layer, values } of plans) {
      layer.setWeights(values);
      copied.push(layer.name);
    }
    return copied;
  } finally {
    for (const t of Object.values(named)) t.dispose();
  }
}
