import * as tf from "@tensorflow/tfjs";
import { MODEL_NAMES, type ModelName } from "@xnn/shared";
import type { InputNormalization } from "../weights/manifest.js";
import { Builder, type ST } from "./blocks.js";
import { WEIGHTS_CONVENTIONS, type WeightsConvention } from "./conventions.js";
import { CONVNEXT_V2, convNeXtV2Backbone } from "./convnext_v2.js";
import { mobileNetV2Backbone } from "./mobilenet_v2.js";
import { checkImportedWeights, loadPretrainedBackbone, readImportedWeights } from "./pretrained.js";
import { resnet18Backbone, resnet50Backbone } from "./resnet.js";

// The one list of model names is MODEL_NAMES (packages/shared); the builder below has a case for each.

export interface BuildModelOptions {
  arch: ModelName;
  /** MobileNetV2 only (alpha); default 1.0. Values other than 1 are rejected for other archs so a sweep can't silently ignore them. */
  widthMultiplier?: number;
  imageSize: number;
  numClasses: number;
  dropout: number;
  seed: number;
  pretrainedDir?: string;
  /**
   * Graph details that follow where weights come from (padding of stride-2 convs, BatchNorm eps,
   * ResNet-50 v1 vs v1.5); see conventions.ts. With a `pretrainedDir` written by `xnn weights
   * import`, its manifest decides and a different value here is an error. Absent: each arch's
   * historical graph.
   */
  convention?: WeightsConvention;
  /**
   * Also load `head_logits` from the pretrained directory (the source's classifier, written by
   * `xnn weights import`): with `headUnits: []` and `numClasses` equal to the source's, the model
   * is the source network itself. Default false: the head stays freshly initialised.
   */
  pretrainedHead?: boolean;
  /**
   * The normalisation the caller's inputs get (mean/std on the 0..1 pixel scale, colour order).
   * Checked against an imported directory's manifest; default: the data pipeline's, ImageNet RGB.
   */
  inputNormalization?: InputNormalization;
  /** Hidden head layers (units each); default HEAD_UNITS. [] is dropout then the logits. */
  headUnits?: readonly number[];
}

export interface BuiltModel {
  model: tf.LayersModel;
  init: "random" | "pretrained";
  /** Backbone layer names in model.layers order (the order configureStage counts "last N" in). */
  backboneLayerNames: string[];
}

export const HEAD_PREFIX = "head_";
export const INPUT_NAME = "image";
/** The study's classifier head: GAP, then Dense 20, 10, 5 (ReLU, dropout after each), then the logits. */
export const HEAD_UNITS: readonly number[] = [20, 10, 5];

export function isHeadLayerName(name: string): boolean {
  return name.startsWith(HEAD_PREFIX);
}

export async function buildModel(opts: BuildModelOptions): Promise<BuiltModel> {
  if (opts.pretrainedDir === undefined) {
    if (opts.pretrainedHead) throw new Error("buildModel: pretrainedHead needs a pretrainedDir");
    return buildGraph(opts, false);
  }
  validate(opts);
  const dir = opts.pretrainedDir;
  // An imported directory says which graph its weights belong to; the graph follows it.
  const imported = await readImportedWeights(dir);
  if (imported) checkImportedWeights(imported, dir, opts);
  const convention = imported?.convention ?? opts.convention;
  // Every backbone weight is replaced by the file's (or the load fails), so don't draw them.
  const built = buildGraph({ ...opts, ...(convention ? { convention } : {}) }, "backbone");
  try {
    const names = opts.pretrainedHead
      ? [...built.backboneLayerNames, HEAD_PREFIX + "logits"]
      : built.backboneLayerNames;
    await loadPretrainedBackbone(built.model, names, dir);
  } catch (err) {
    built.model.dispose();
    throw err;
  }
  return { ...built, init: "pretrained" };
}

/**
 * Same graph, names and shapes as buildModel but every kernel is zero: for counting parameters or
 * listing layers of large configs without paying for random initialisation. Not for training.
 */
export function buildModelSkeleton(opts: Omit<BuildModelOptions, "pretrainedDir">): BuiltModel {
  return buildGraph(opts, true);
}

function buildGraph(opts: BuildModelOptions, zeroInit: boolean | "backbone"): BuiltModel {
  validate(opts);
  const b = new Builder(opts.seed, zeroInit);
  const input = tf.input({ name: INPUT_NAME, shape: [opts.imageSize, opts.imageSize, 3] });

  let features: ST;
  switch (opts.arch) {
    case "mobilenet_v2":
      features = mobileNetV2Backbone(b, input, opts.widthMultiplier ?? 1, opts.convention);
      break;
    case "resnet18":
      features = resnet18Backbone(b, input, opts.convention);
      break;
    case "resnet50":
      features = resnet50Backbone(b, input, opts.convention);
      break;
    case "convnext_v2_atto":
    case "convnext_v2_tiny":
      features = convNeXtV2Backbone(
        b,
        input,
        CONVNEXT_V2[opts.arch === "convnext_v2_atto" ? "atto" : "tiny"],
      );
      break;
  }

  let x = tf.layers.globalAveragePooling2d({ name: `${HEAD_PREFIX}gap` }).apply(features) as ST;
  if (opts.arch.startsWith("convnext")) {
    // ConvNeXt normalises the pooled feature (its own head norm); part of the pretrained
    // backbone, so it is named without the head prefix.
    x = b.ln(x, "final_norm");
  }
  const headUnits = opts.headUnits ?? HEAD_UNITS;
  if (headUnits.length === 0) {
    x = tf.layers.dropout({ name: `${HEAD_PREFIX}dropout_0`, rate: opts.dropout }).apply(x) as ST;
  }
  headUnits.forEach((units, i) => {
    const n = i + 1;
    x = b.dense(x, `${HEAD_PREFIX}dense_${n}`, units, "he");
    x = b.relu(x, `${HEAD_PREFIX}relu_${n}`);
    // No dropout seed on purpose: tfjs re-seeds randomUniform with the same seed on every call,
    // so a seeded Dropout drops the SAME units at every step (fixed pruning, not dropout).
    x = tf.layers.dropout({ name: `${HEAD_PREFIX}dropout_${n}`, rate: opts.dropout }).apply(x) as ST;
  });
  // Logits layer has no ReLU after it: Glorot keeps initial logits small (near-uniform softmax).
  const logits = b.dense(x, `${HEAD_PREFIX}logits`, opts.numClasses, "glorot");

  const model = tf.model({ name: `xnn_${opts.arch}`, inputs: input, outputs: logits });
  const backboneLayerNames = model.layers
    .filter((l) => l.name !== INPUT_NAME && !isHeadLayerName(l.name))
    .map((l) => l.name);
  return { model, init: "random", backboneLayerNames };
}

function validate(o: BuildModelOptions): void {
  if (!MODEL_NAMES.includes(o.arch))
    throw new Error(
      `buildModel: unknown arch '${String(o.arch)}' (expected one of ${MODEL_NAMES.join(", ")})`,
    );
  if (o.widthMultiplier !== undefined) {
    if (o.arch !== "mobilenet_v2" && o.widthMultiplier !== 1) {
      throw new Error(
        `buildModel: widthMultiplier applies to mobilenet_v2 only, got ${o.widthMultiplier} for arch '${o.arch}'`,
      );
    }
    if (!(o.widthMultiplier > 0))
      throw new Error(`buildModel: widthMultiplier must be > 0, got ${o.widthMultiplier}`);
  }
  // 32 px is the smallest size every backbone reduces to >= 1x1 (overall stride 32).
  if (!Number.isInteger(o.imageSize) || o.imageSize < 32)
    throw new Error(`buildModel: imageSize must be an integer >= 32, got ${o.imageSize}`);
  if (!Number.isInteger(o.numClasses) || o.numClasses < 2)
    throw new Error(`buildModel: numClasses must be an integer >= 2, got ${o.numClasses}`);
  if (!(o.dropout >= 0 && o.dropout < 1))
    throw new Error(`buildModel: dropout must be in [0, 1), got ${o.dropout}`);
  if (o.headUnits?.some((u) => !Number.isInteger(u) || u < 1))
    throw new Error(`buildModel: headUnits must be positive integers, got [${o.headUnits.join(", ")}]`);
  if (!Number.isInteger(o.seed)) throw new Error(`buildModel: seed must be an integer, got ${o.seed}`);
  if (o.convention !== undefined && !WEIGHTS_CONVENTIONS.includes(o.convention))
    throw new Error(
      `buildModel: convention must be one of ${WEIGHTS_CONVENTIONS.join(", ")}, got '${String(o.convention)}'`,
    );
}
