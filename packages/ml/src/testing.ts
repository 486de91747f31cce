// Small model builders for tests and for the one-step smoke check of `pnpm worker --check`
// (not part of the engine's public entry).
import { type BuildModelOptions, type BuiltModel, buildModel } from "./models/build.js";

export { buildTinyClassifier } from "./explain/tinyClassifier.js";

/** A seeded uniform generator on [0, 1) (mulberry32), for reproducible test data. */
export function seededUniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type SmallModelOptions = Partial<BuildModelOptions> & { seed: number };

/** A real architecture at test size: 32 px input, 3 classes, dropout 0.2 unless given. */
export function buildSmallModel(
  opts: SmallModelOptions & Pick<BuildModelOptions, "arch">,
): Promise<BuiltModel> {
  return buildModel({ imageSize: 32, numClasses: 3, dropout: 0.2, ...opts });
}

/** The smallest real model the tests train and save: MobileNetV2 at width 0.35, else as buildSmallModel. */
export function tinyMobileNet(opts: Omit<SmallModelOptions, "arch">): Promise<BuiltModel> {
  return buildSmallModel({ arch: "mobilenet_v2", widthMultiplier: 0.35, ...opts });
}

// Tests that compare with PyTorch (weights equivalence, transfer learning) run Debian's Python.
export { PYTHON, PYTORCH_INSTALL, requirePyTorch } from "./weights/testdata/pytorch.js";
