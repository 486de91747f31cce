import * as tf from "@tensorflow/tfjs";
import { createRng, mixSeed, shuffleInPlace } from "../../data/prng.js";
import type { DatasetItem } from "../../data/scan.js";
import { collectFeatures, type FeatureCache } from "../featureCache.js";
import { initHeadFromData, reviveDeadHeadUnits, setLogitsToPrior } from "../headInit.js";
import type { HeapGuard } from "../heapError.js";
import type { TrainLog } from "../types.js";
import type { TrainingHook } from "./trainingHook.js";

/** Training images used to check the head for dead units before FT. */
const HEAD_SAMPLE = 128;

/**
 * What to do to the head before the first epoch of a fresh run:
 * - `init`: a head trained from scratch on cached features gets every hidden unit centred and
 *   scaled on those features, and its logits start at the class `prior`;
 * - `revive`: a head taken over from a checkpoint (FT from FE) gets the units that are off for
 *   every image of a training sample re-drawn. A head trained on uninformative features (FE on a
 *   random backbone) can collapse onto the class prior with every unit off; FT could then never
 *   move the backbone.
 */
export type HeadPlan =
  | { kind: "init"; features: FeatureCache; prior: number[] }
  | {
      kind: "revive";
      extractor: tf.LayersModel;
      train: readonly DatasetItem[];
      seed: number;
      images: { root: string; batchSize: number; imageSize: number };
    };

/** Prepares the classifier head before training starts (see HeadPlan). */
export class HeadPreparationHook implements TrainingHook {
  constructor(
    private readonly head: tf.LayersModel,
    private readonly plan: HeadPlan,
    private readonly log: TrainLog,
    private readonly guard: HeapGuard,
  ) {}

  async onTrainStart(): Promise<void> {
    if (this.plan.kind === "init") this.init(this.plan.features, this.plan.prior);
    else await this.revive(this.plan);
  }

  private init(cache: FeatureCache, prior: number[]): void {
    const sample = tf.tensor2d(cache.feats, [cache.labels.length, cache.dim]);
    const layers = initHeadFromData(this.head, sample);
    sample.dispose();
    setLogitsToPrior(this.head, prior);
    this.log("head initialised from the data (each hidden unit centred and scaled on the cached features)", {
      layers,
    });
  }

  private async revive(plan: Extract<HeadPlan, { kind: "revive" }>): Promise<void> {
    try {
      // The split is listed class by class: sample across all classes.
      const pick = [...plan.train];
      shuffleInPlace(pick, createRng(mixSeed(plan.seed, 0x4ead)));
      const sample = await collectFeatures(plan.extractor, pick.slice(0, HEAD_SAMPLE), {
        ...plan.images,
        report: { skipped: [] },
      });
      const feats = tf.tensor2d(sample.feats, [sample.labels.length, sample.dim]);
      const layers = reviveDeadHeadUnits(this.head, feats, plan.seed);
      feats.dispose();
      const revived = layers.reduce((a, l) => a + (l.revived ?? 0), 0);
      if (revived > 0) this.log("revived dead head units (off for every sampled training image)", { layers });
    } catch (err) {
      throw this.guard("head check", err);
    }
  }
}
