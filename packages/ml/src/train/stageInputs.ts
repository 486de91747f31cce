import * as tf from "@tensorflow/tfjs";
import type { PipelineConfig } from "@xnn/shared";
import { batches, type ImageBatch, type SkipReport } from "../data/loader.js";
import { createRng, mixSeed, shuffleInPlace } from "../data/prng.js";
import type { ScannedDataset } from "../data/scan.js";
import { calibrateBatchNorm } from "./batchnorm.js";
import { collectFeatures, type FeatureCache, featureBatches, splitHead } from "./featureCache.js";
import type { HeapGuard } from "./heapError.js";
import { yieldToEventLoop } from "./loop.js";
import {
  batchNormWeights,
  type FeatureStore,
  type SharedFeatures,
  setBatchNormWeights,
  sharedFeaturesKey,
} from "./sharedFeatures.js";
import type { Forward } from "./trainStep.js";
import type { TrainLog } from "./types.js";

type Batches = AsyncIterable<ImageBatch> | Iterable<ImageBatch>;

/** What a stage trains and validates on: cached backbone features or images, and the forward passes for each. */
export interface StageInputs {
  /** The head trains on backbone features cached once (FE, frozen backbone, fixed inputs). */
  cached: boolean;
  /** Validation's forward pass: the head on cached features, else the whole model. */
  forward: Forward;
  /** The training step's forward pass, the part under the gradient tape. */
  trainForward: Forward;
  /** FE on images: the backbone, run outside the gradient tape. */
  frozenBackbone: tf.LayersModel | null;
  /** Training images (or cached rows) per epoch. */
  trainCount: number;
  trainCache: FeatureCache | null;
  trainBatches(epoch: number): Batches;
  valBatches(): Batches;
  /** The model split at its head (made once, on first use). */
  split(): { extractor: tf.LayersModel; head: tf.LayersModel };
}

export interface StageInputOptions {
  /** Shared report of unreadable images. */
  report: SkipReport;
  guard: HeapGuard;
  log: TrainLog;
  /** Takes what must be disposed of before the model. */
  keep: (d: { dispose(): void }) => void;
  /** Images per inference pass (feature caching, validation): the batch, or fewer where it does not fit. */
  evalBatchSize: number;
  /** Features computed by earlier runs of the same backbone on the same data (FE with cached features). */
  featureStore?: FeatureStore;
}

/** The shared entry under `key`, or null (none, or unreadable: logged, and the run computes its own). */
async function sharedFeatures(
  store: FeatureStore,
  key: string,
  log: TrainLog,
): Promise<SharedFeatures | null> {
  try {
    return await store.get(key);
  } catch (err) {
    log("shared backbone features unreadable; computing them", { err: (err as Error).message }, "warn");
    return null;
  }
}

/**
 * Chooses what the stage trains on. Feature caching is valid only when the backbone is frozen and
 * its input never changes (no augmentation, no input noise); then the backbone's BatchNorm
 * statistics are recalibrated on the training images and the train and val features computed once.
 */
export async function prepareStageInputs(
  model: tf.LayersModel,
  config: PipelineConfig,
  scanned: ScannedDataset,
  o: StageInputOptions,
): Promise<StageInputs> {
  const { data, stage, train: tcfg } = config;
  const root = scanned.root;
  const inputNoise = data.inputNoise ?? 0;
  const cached = data.cacheFeatures && stage.kind === "fe" && !data.augment && inputNoise === 0;
  if (data.cacheFeatures && !cached) {
    o.log("cacheFeatures ignored", {
      reason:
        stage.kind !== "fe"
          ? "the backbone trains in FT"
          : data.augment
            ? "augmentation changes the inputs every epoch"
            : "inputNoise changes the inputs every step",
    });
  }
  let forward: Forward = (x, training) => model.apply(x, { training }) as tf.Tensor2D;
  // FE without cached features: the frozen backbone runs outside the gradient tape (nothing of it
  // is trained), so its activations are freed at once instead of being kept for a backward pass
  // that never reaches them. Without this a 224 px batch of 32 exhausts wasm's 4 GB heap.
  let frozenBackbone: tf.LayersModel | null = null;
  // splitHead adds a node to every head layer, so the model is split once and the parts shared.
  let parts: ReturnType<typeof splitHead> | null = null;
  const split = () => {
    if (!parts) {
      parts = splitHead(model);
      // Re-applying the head layers to the new input gives each a second reference: the head
      // sub-model is disposed before the model, or the model's dispose() leaves the head's
      // weights allocated (8 tensors per run). The extractor only views the model's own graph and
      // holds no extra reference.
      o.keep(parts.head);
    }
    return parts;
  };
  let trainForward: Forward = (x, training) => forward(x, training);
  let trainCache: FeatureCache | null = null;
  let valCache: FeatureCache | null = null;
  if (cached) {
    const t0 = performance.now();
    const { extractor, head } = split();
    const eopts = { root, batchSize: o.evalBatchSize, imageSize: data.imageSize, report: o.report };
    const store = o.featureStore;
    const key = store
      ? await sharedFeaturesKey(extractor, scanned.splits, {
          root,
          imageSize: data.imageSize,
          batchSize: o.evalBatchSize,
        })
      : null;
    const shared = store && key ? await sharedFeatures(store, key, o.log) : null;
    if (shared) {
      setBatchNormWeights(extractor, shared.batchNorm);
      o.report.skipped.push(...shared.skipped);
      trainCache = shared.train;
      valCache = shared.val;
      o.log(
        "backbone features and BatchNorm statistics from an earlier run's feature pass (shared feature cache)",
        {
          key: key?.slice(0, 12),
        },
      );
    } else {
      const skippedBefore = o.report.skipped.length;
      try {
        const calibrated = await calibrateBatchNorm(
          extractor,
          (async function* () {
            for await (const b of batches(scanned.splits.train, eopts)) yield tf.tensor4d(b.xs, b.shape);
          })(),
          yieldToEventLoop,
        );
        o.log("BatchNorm running statistics recalibrated on the training images", { batches: calibrated });
        trainCache = await collectFeatures(extractor, scanned.splits.train, eopts);
        valCache = await collectFeatures(extractor, scanned.splits.val, eopts);
      } catch (err) {
        throw o.guard("feature caching", err);
      }
      if (store && key) {
        const entry: SharedFeatures = {
          train: trainCache,
          val: valCache,
          batchNorm: batchNormWeights(extractor),
          skipped: o.report.skipped.slice(skippedBefore),
        };
        await store.put(key, entry).then(
          () => o.log("backbone features shared for later runs", { key }),
          (err: Error) =>
            o.log(
              "could not share the backbone features; later runs compute their own",
              { err: err.message },
              "warn",
            ),
        );
      }
    }
    if (!trainCache || !valCache) throw new Error("feature caching produced no features");
    forward = (x, training) => head.apply(x, { training }) as tf.Tensor2D;
    const secs = (performance.now() - t0) / 1000;
    o.log(
      "cached backbone features once (frozen backbone, inference-mode BatchNorm); the head now trains on them",
      {
        images: trainCache.labels.length + valCache.labels.length,
        featureDim: trainCache.dim,
        seconds: Number(secs.toFixed(2)),
        imagesPerSec: Number(((trainCache.labels.length + valCache.labels.length) / secs).toFixed(1)),
      },
    );
  }

  if (!cached && stage.kind === "fe") {
    const { extractor, head } = split();
    frozenBackbone = extractor;
    trainForward = (x, training) => head.apply(x, { training }) as tf.Tensor2D;
  }

  const evalImages = { batchSize: o.evalBatchSize, imageSize: data.imageSize, root, report: o.report };
  const trainCount = trainCache ? trainCache.labels.length : scanned.splits.train.length;
  return {
    cached,
    forward,
    trainForward,
    frozenBackbone,
    trainCount,
    trainCache,
    trainBatches: (epoch) => {
      if (trainCache) {
        const order = Array.from({ length: trainCount }, (_, i) => i);
        shuffleInPlace(order, createRng(mixSeed(config.seed, epoch, 0x5f1e)));
        return featureBatches(trainCache, tcfg.batchSize, order);
      }
      return batches(scanned.splits.train, {
        ...evalImages,
        batchSize: tcfg.batchSize,
        shuffle: true,
        seed: config.seed,
        epoch,
        augment: data.augment,
      });
    },
    valBatches: () =>
      valCache ? featureBatches(valCache, o.evalBatchSize) : batches(scanned.splits.val, evalImages),
    split,
  };
}
