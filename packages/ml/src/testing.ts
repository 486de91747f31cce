// Small model builders for tests and for the one-step smoke check of `pnpm worker --check`
// (not part of the engine's public entry).
import { type BuildModelOptions, type BuiltModel, buildModel } from "./models/build.js";

export { buildTinyClassifier } from "./explain/tinyClassifier.js";

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
