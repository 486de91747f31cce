import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { SkippedImage } from "../data/loader.js";
import type { DatasetItem } from "../data/scan.js";
import { batchNormLayers } from "./batchnorm.js";
import type { FeatureCache } from "./featureCache.js";

/**
 * Backbone features shared between runs. Every FE run of a sweep over head settings (learning
 * rate, dropout, weight decay) freezes the same backbone, starts it from the same weights and reads
 * the same images the same way, so its feature pass (BatchNorm recalibration, then the train and val
 * features) gives what the first such run computed. The entry is keyed by a hash of everything the
 * pass depends on: the extractor's weights before recalibration, the train and val images (paths,
 * labels, bytes), the image size, the pass's batch size (recalibration averages per batch), the
 * backend and the format version below. Hosts share nothing but the database, the queue and the
 * artifact store, so the worker keeps entries in the artifact store (FeatureStore).
 */

/** Bump when the loader's preprocessing, recalibration or this format changes what a pass yields. */
export const SHARED_FEATURES_VERSION = "xnn-features-1";

/** Where one run finds the features another computed. */
export interface FeatureStore {
  /** The entry under `key`, or null when there is none. */
  get(key: string): Promise<SharedFeatures | null>;
  /** Keeps an entry under `key`; a failure costs a later run a feature pass, nothing more. */
  put(key: string, features: SharedFeatures): Promise<void>;
}

/**
 * A FeatureStore over directories: `fetch` gives a local directory holding the entry under a key
 * (or null), `store` keeps a directory written under `scratch` as the entry of a key.
 */
export function featureStoreOverDirs(o: {
  fetch: (key: string) => Promise<string | null>;
  store: (key: string, dir: string) => Promise<void>;
  scratch: string;
}): FeatureStore {
  return {
    async get(key) {
      const dir = await o.fetch(key);
      return dir ? readSharedFeatures(dir) : null;
    },
    async put(key, features) {
      const dir = path.join(o.scratch, key);
      await writeSharedFeatures(dir, features);
      await o.store(key, dir);
    },
  };
}

/** What a feature pass yields: the features and the recalibrated BatchNorm weights of the extractor. */
export interface SharedFeatures {
  train: FeatureCache;
  val: FeatureCache;
  /** Every BatchNorm layer's weights, in `batchNormLayers(extractor)` order, after recalibration. */
  batchNorm: Float32Array[][];
  /** The images the pass could not read (replayed into the run's skip report). */
  skipped: SkippedImage[];
}

/** The entry key of a feature pass of `extractor` (before recalibration) over these splits. */
export async function sharedFeaturesKey(
  extractor: tf.LayersModel,
  splits: { train: readonly DatasetItem[]; val: readonly DatasetItem[] },
  o: { root: string; imageSize: number; batchSize: number },
): Promise<string> {
  const h = createHash("sha256");
  h.update(
    JSON.stringify({
      version: SHARED_FEATURES_VERSION,
      backend: tf.getBackend(),
      imageSize: o.imageSize,
      batchSize: o.batchSize,
    }),
  );
  for (const w of extractor.weights) {
    const v = w.read();
    // Not the weight's name: tfjs numbers layer names per process, so the same backbone built twice
    // has other names. Order, shapes and values identify it.
    h.update(`${v.shape.join("x")}:${v.dtype}\n`);
    const data = (await v.data()) as Float32Array;
    h.update(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  for (const [split, items] of Object.entries(splits)) {
    for (const item of items) {
      h.update(`${split}\0${item.path}\0${item.label}\0`);
      const bytes = await readFile(path.join(o.root, item.path)).catch(() => null);
      h.update(bytes ? createHash("sha256").update(bytes).digest("hex") : "unreadable");
      h.update("\n");
    }
  }
  return h.digest("hex");
}

interface Meta {
  version: string;
  splits: Record<"train" | "val", { n: number; dim: number; paths: string[] }>;
  batchNorm: number[][];
  skipped: SkippedImage[];
}

/** Writes an entry into `dir` (created). */
export async function writeSharedFeatures(dir: string, f: SharedFeatures): Promise<void> {
  await mkdir(dir, { recursive: true });
  const bytes = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  for (const split of ["train", "val"] as const) {
    await writeFile(path.join(dir, `${split}.feats.f32`), bytes(f[split].feats));
    await writeFile(path.join(dir, `${split}.labels.i32`), bytes(f[split].labels));
  }
  await writeFile(path.join(dir, "batchnorm.f32"), Buffer.concat(f.batchNorm.flat().map((w) => bytes(w))));
  const meta: Meta = {
    version: SHARED_FEATURES_VERSION,
    splits: {
      train: { n: f.train.labels.length, dim: f.train.dim, paths: f.train.paths },
      val: { n: f.val.labels.length, dim: f.val.dim, paths: f.val.paths },
    },
    batchNorm: f.batchNorm.map((layer) => layer.map((w) => w.length)),
    skipped: f.skipped,
  };
  await writeFile(path.join(dir, "meta.json"), JSON.stringify(meta));
}

/** Reads an entry written by writeSharedFeatures; throws on any mismatch of sizes. */
export async function readSharedFeatures(dir: string): Promise<SharedFeatures> {
  const meta = JSON.parse(await readFile(path.join(dir, "meta.json"), "utf8")) as Meta;
  if (meta.version !== SHARED_FEATURES_VERSION)
    throw new Error(
      `shared features in ${dir} have version ${meta.version}, expected ${SHARED_FEATURES_VERSION}`,
    );
  const floats = async (file: string, n: number) => {
    const b = await readFile(path.join(dir, file));
    if (b.byteLength !== n * 4)
      throw new Error(`${file} in ${dir} has ${b.byteLength} bytes, expected ${n * 4}`);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  const split = async (name: "train" | "val"): Promise<FeatureCache> => {
    const { n, dim, paths } = meta.splits[name];
    const feats = await floats(`${name}.feats.f32`, n * dim);
    const labels = new Int32Array((await floats(`${name}.labels.i32`, n)).buffer);
    if (paths.length !== n) throw new Error(`${name} in ${dir}: ${paths.length} paths for ${n} rows`);
    return { feats, dim, labels, paths };
  };
  const sizes = meta.batchNorm.flat();
  const all = await floats(
    "batchnorm.f32",
    sizes.reduce((a, b) => a + b, 0),
  );
  let at = 0;
  const batchNorm = meta.batchNorm.map((layer) =>
    layer.map((n) => {
      const w = all.slice(at, at + n);
      at += n;
      return w;
    }),
  );
  return { train: await split("train"), val: await split("val"), batchNorm, skipped: meta.skipped };
}

/** The extractor's BatchNorm weights, as SharedFeatures keeps them. */
export function batchNormWeights(extractor: tf.LayersModel): Float32Array[][] {
  return batchNormLayers(extractor).map((l) => l.getWeights().map((w) => w.dataSync() as Float32Array));
}

/** Puts BatchNorm weights saved by batchNormWeights back; throws when the layers do not match. */
export function setBatchNormWeights(extractor: tf.LayersModel, saved: Float32Array[][]): void {
  const layers = batchNormLayers(extractor);
  if (layers.length !== saved.length)
    throw new Error(`shared features hold ${saved.length} BatchNorm layers, the model has ${layers.length}`);
  layers.forEach((l, i) => {
    const current = l.getWeights();
    const values = saved[i] as Float32Array[];
    if (values.length !== current.length || values.some((v, j) => v.length !== current[j]?.size))
      throw new Error(`shared features: BatchNorm layer ${l.name} does not match`);
    const tensors = current.map((w, j) => tf.tensor(values[j] as Float32Array, w.shape, "float32"));
    l.setWeights(tensors);
    tf.dispose(tensors);
  });
}
