import { buildModel, type tf } from "@xnn/ml";

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
 * Path points per batch: `override` when given, else integratedGradients' default rule (about 16
 * points at 128 px, fewer for larger images, at most 64).
 */
export function benchIgChunk(size: number, override?: string): number {
  return override
    ? Number(override)
    : Math.max(1, Math.min(64, Math.floor((16 * 128 * 128) / (size * size))));
}
