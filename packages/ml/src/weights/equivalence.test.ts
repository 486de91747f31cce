import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { ModelName as Arch } from "@xnn/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildModel } from "../models/build.js";
import { importWeights } from "./importWeights.js";
import { type InputNormalization, KERAS_CAFFE_MODE, KERAS_TF_MODE } from "./manifest.js";
import { makeReferences, readReference } from "./testdata/reference.js";

// Each case: PyTorch builds the source architecture with random weights and fixed BatchNorm
// statistics, publishes it the way real weights are published, and records its logits. Imported
// and built by xnn, the same network must give the same logits.
const CASES: Array<{ c: string; naming: string; h5?: InputNormalization }> = [
  { c: "resnet18", naming: "torchvision/timm" },
  { c: "resnet50", naming: "torchvision/timm" },
  { c: "mobilenet_v2", naming: "torchvision" },
  { c: "mobilenet_v2_timm", naming: "timm" },
  { c: "convnext_v2_atto", naming: "timm" },
  { c: "convnext_v2_atto_official", naming: "convnextv2-official" },
  { c: "convnext_v2_tiny", naming: "timm" },
  // Keras 2 H5 with keras.applications names, from PyTorch modules rewired to Keras' conventions
  // (TF-style padding, BatchNorm eps 1e-3; ResNet-50 v1 with conv biases). MobileNetV2 as the
  // applications' weights downloads are laid out, ResNet-50 as model.save writes it.
  { c: "mobilenet_v2_keras", naming: "keras", h5: KERAS_TF_MODE },
  { c: "resnet50_keras", naming: "keras", h5: KERAS_CAFFE_MODE },
];

let tmp: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "xnn-weights-eq-"));
  await makeReferences(
    tmp,
    CASES.map((k) => k.c),
  );
}, 600_000);
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** max |a - b| over max |b|: relative to the logits' scale, so near-zero logits don't blow it up. */
function relativeError(a: Float32Array | number[], b: number[]): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

describe("imported PyTorch weights compute what PyTorch computed", () => {
  for (const { c, naming, h5 } of CASES) {
    it(`${c} (${naming} names): logits within 1e-4 relative`, async () => {
      const ref = await readReference(tmp, c);
      const out = path.join(tmp, `${c}-imported`);
      const file = path.join(tmp, h5 ? `${c}.h5` : `${c}.safetensors`);
      const res = await importWeights({ file, arch: ref.arch as Arch, out });
      expect(res.imported.source.naming).toBe(naming);
      expect(res.imported.convention).toBe(h5 ? "keras" : "torch");
      expect(res.imported.padding).toBe(h5 ? "tf-same" : "symmetric");
      if (h5) expect(res.imported.input).toEqual(h5);
      expect(res.imported.classifierClasses).toBe(ref.logitsShape[1]);

      const built = await buildModel({
        arch: ref.arch as Arch,
        imageSize: ref.size,
        numClasses: ref.logitsShape[1],
        dropout: 0,
        seed: 0,
        headUnits: [],
        pretrainedDir: out,
        pretrainedHead: true,
        // Keras weights expect their own preprocessing; the caller states it matches.
        ...(h5 ? { inputNormalization: h5 } : {}),
      });
      const x = tf.tensor4d(ref.input, [ref.logitsShape[0], ref.size, ref.size, 3]);
      const y = built.model.predict(x) as tf.Tensor;
      const logits = (await y.data()) as Float32Array;
      tf.dispose([x, y]);
      built.model.dispose();
      const err = relativeError(logits, ref.logits);
      expect(err, `${c}: relative error ${err.toExponential(2)}`).toBeLessThan(1e-4);
    }, 120_000);
  }
});
