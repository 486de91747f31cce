import type * as tf from "@tensorflow/tfjs";
import { hasWeights, isNormalizationLayer } from "./layers.js";

export type Stage =
  | { kind: "fe" }
  | { kind: "ft"; trainableLayers: number | "all"; normalization?: "frozen" | "trainable" };

/**
 * Sets `layer.trainable` for a training stage and returns the names of the weight-bearing layers
 * left trainable (backbone first, then head, in model.layers order).
 *
 * - fe: every backbone layer frozen; every non-backbone (head) layer trainable.
 * - ft: the last N weight-bearing, non-normalisation backbone layers (conv, depthwise, dense, GRN)
 *   become trainable ("all" = all of them); BatchNorm/LayerNorm stay frozen; head trainable.
 *
 * The model MUST be (re)compiled after this call: tfjs captures the trainable weight list at
 * compile time, so an already-compiled model would keep updating the old set.
 *
 * BatchNorm caveat (checked in tfjs-layers 4.22 normalization.js): `trainable = false` only stops
 * gamma/beta from receiving gradients. In `fit` (training=true) a frozen BatchNormalization still
 * normalises with the current batch's statistics and still updates its moving mean/variance —
 * the same as a PyTorch BN with requires_grad=False in train() mode, and unlike Keras 2 where a
 * frozen BN runs in inference mode. Evaluation/predict (training=false) uses the moving stats.
 */
export function configureStage(model: tf.LayersModel, backboneLayerNames: string[], stage: Stage): string[] {
  const backbone = new Set(backboneLayerNames);
  for (const name of backboneLayerNames) model.getLayer(name); // throws with tfjs' message on an unknown name

  // Count in model.layers order so "last N" means closest to the output in topological order.
  const candidates = model.layers.filter(
    (l) => backbone.has(l.name) && hasWeights(l) && !isNormalizationLayer(l),
  );
  let unfrozen: Set<string>;
  if (stage.kind === "fe") {
    unfrozen = new Set();
  } else if (stage.trainableLayers === "all") {
    unfrozen = new Set(candidates.map((l) => l.name));
  } else {
    const n = stage.trainableLayers;
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`configureStage: trainableLayers must be a non-negative integer or "all", got ${n}`);
    if (n > candidates.length) {
      throw new Error(
        `configureStage: trainableLayers=${n} but the backbone has only ${candidates.length} trainable-eligible layers (use "all")`,
      );
    }
    unfrozen = new Set(n === 0 ? [] : candidates.slice(-n).map((l) => l.name));
  }

  if (stage.kind === "ft" && stage.normalization === "trainable" && unfrozen.size > 0) {
    // Normalisation layers from the first unfrozen layer on train with the part they sit in.
    const first = model.layers.findIndex((l) => unfrozen.has(l.name));
    model.layers.forEach((l, i) => {
      if (i > first && backbone.has(l.name) && hasWeights(l) && isNormalizationLayer(l)) unfrozen.add(l.name);
    });
  }

  model.trainable = true;
  const trainable: string[] = [];
  for (const layer of model.layers) {
    const on = backbone.has(layer.name) ? unfrozen.has(layer.name) : true;
    layer.trainable = on;
    if (on && hasWeights(layer)) trainable.push(layer.name);
  }
  return trainable;
}
