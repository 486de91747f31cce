import * as tf from "@tensorflow/tfjs";
import { batches, type ImageBatch, type SkipReport } from "../data/loader.js";
import type { DatasetItem } from "../data/scan.js";
import { HEAD_PREFIX } from "../models/index.js";
import { yieldToEventLoop } from "./loop.js";

/** Backbone features of a split, computed once (FE with a frozen backbone and fixed inputs). */
export interface FeatureCache {
  /** Row-major [n, dim]. */
  feats: Float32Array;
  dim: number;
  labels: Int32Array;
  paths: string[];
}

/** The first head layer's input: everything before it is the frozen backbone in FE. */
function headStart(model: tf.LayersModel): { index: number; features: tf.SymbolicTensor } {
  const index = model.layers.findIndex((l) => l.name.startsWith(HEAD_PREFIX) && l.getClassName() === "Dense");
  if (index < 0)
    throw new Error(`model ${model.name} has no ${HEAD_PREFIX}* Dense layer to split the head at`);
  const layer = model.layers[index] as tf.layers.Layer;
  const input = layer.input;
  if (Array.isArray(input))
    throw new Error(`head layer ${layer.name} has several inputs; cannot cache features`);
  return { index, features: input };
}

/**
 * Splits the model into a frozen feature extractor and the head. The head model reuses the same
 * layer objects, so training it trains the full model's head weights in place.
 */
export function splitHead(model: tf.LayersModel): { extractor: tf.LayersModel; head: tf.LayersModel } {
  const { index, features } = headStart(model);
  const extractor = tf.model({ name: "xnn_feature_extractor", inputs: model.inputs, outputs: features });
  const hin = tf.input({ name: "cached_features", shape: features.shape.slice(1) as number[] });
  let x: tf.SymbolicTensor = hin;
  for (const layer of model.layers.slice(index)) {
    const inbound = layer.inboundNodes.length;
    if (inbound !== 1)
      throw new Error(`head layer ${layer.name} is used ${inbound} times; expected a linear head`);
    x = layer.apply(x) as tf.SymbolicTensor;
  }
  if (model.outputs.length !== 1) throw new Error("expected a single-output model");
  return { extractor, head: tf.model({ name: "xnn_head", inputs: hin, outputs: x }) };
}

export async function collectFeatures(
  extractor: tf.LayersModel,
  items: readonly DatasetItem[],
  opts: { root: string; batchSize: number; imageSize: number; report: SkipReport },
): Promise<FeatureCache> {
  const dim = (extractor.outputs[0]?.shape ?? []).slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
  const feats = new Float32Array(items.length * dim);
  const labels = new Int32Array(items.length);
  const paths: string[] = [];
  let n = 0;
  for await (const b of batches(items, {
    batchSize: opts.batchSize,
    imageSize: opts.imageSize,
    root: opts.root,
    report: opts.report,
  })) {
    const out = tf.tidy(() => extractor.apply(tf.tensor4d(b.xs, b.shape), { training: false }) as tf.Tensor);
    feats.set(await out.data(), n * dim);
    out.dispose();
    labels.set(b.ys, n);
    paths.push(...b.paths);
    n += b.ys.length;
    await yieldToEventLoop();
  }
  return { feats: feats.slice(0, n * dim), dim, labels: labels.slice(0, n), paths };
}

/** The cache's rows in `order` as batches; all rows in order when `order` is omitted. */
export function* featureBatches(
  cache: FeatureCache,
  batchSize: number,
  order: readonly number[] = Array.from({ length: cache.labels.length }, (_, i) => i),
): Generator<ImageBatch> {
  for (let s = 0; s < order.length; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    const xs = new Float32Array(idx.length * cache.dim);
    const ys = new Int32Array(idx.length);
    idx.forEach((r, j) => {
      xs.set(cache.feats.subarray(r * cache.dim, (r + 1) * cache.dim), j * cache.dim);
      ys[j] = cache.labels[r] as number;
    });
    // shape is [b, dim] here; ImageBatch's 4-d tuple is only a type for the image path.
    yield { xs, ys, paths: idx.map((r) => cache.paths[r] as string), shape: [idx.length, cache.dim, 1, 1] };
  }
}

/** A batch as the model's input: cached features [b, dim], or images [b, h, w, c]. */
export function toInput(b: ImageBatch, cached: boolean): tf.Tensor {
  return cached ? tf.tensor2d(b.xs, [b.shape[0], b.shape[1]]) : tf.tensor4d(b.xs, b.shape);
}
