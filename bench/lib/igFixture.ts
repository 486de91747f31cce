import { buildModel, pointsPerBatch, type tf } from "@xnn/ml";

/**
 * The explanation benchmarks' fixture (bench ig, igProfile, ig-evals, api's predict rows): MobileNetV2
 * 1.0 with 3 classes and seeded random weights at `size` px, and one deterministic input image.
 * bench/ig_torch.py builds the same model shape for the PyTorch side.
 */
export async function benchIgModel(size: number): Promise<tf.LayersModel> {
  const { model } = await buildModel({
    arch: "mobilenet_v2",
    imageSize: size,
    numClasses: 3,
    dropout: 0.2,
    seed: 1,
  });
  return model;
}

/** The fixture image: a smooth deterministic pattern over [-1, 1], HWC. */
export function benchIgImage(size: number): Float32Array {
  return new Float32Array(size * size * 3).map((_, i) => Math.sin(i * 0.37));
}

/**
 * Path points per forward/backward batch of `points` evaluations: `override` when given, else
 * integratedGradients' default (pointsPerBatch: from the model's measured gradient memory), evened
 * out over the batches as integratedGradients does (51 points at most 16 a batch: 4 of 13), so a
 * PyTorch side given this number batches the same way.
 */
export async function benchIgChunk(
  model: tf.LayersModel,
  points: number,
  override?: string,
): Promise<number> {
  const most = override ? Number(override) : await pointsPerBatch(model);
  return Math.ceil(points / Math.ceil(points / most));
}
