import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MANIFEST_JSON } from "../checkpoint/checkpoint.js";
import { buildModel } from "../models/build.js";
import { weightsCommand } from "./command.js";
import { importWeights } from "./importWeights.js";
import { KERAS_TF_MODE } from "./manifest.js";
import { readSafetensors } from "./safetensors.js";
import { WeightsImportError } from "./source.js";
import { makeReferences, writeSafetensors } from "./testdata/reference.js";

let tmp: string;
let src: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "xnn-weights-bad-"));
  src = path.join(tmp, "src");
  await fs.mkdir(src);
  await makeReferences(src, ["resnet18", "convnext_v2_atto", "mobilenet_v2", "mobilenet_v2_keras"]);
}, 600_000);
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

let n = 0;
/** A fresh output path in its own parent, so "nothing written" can be checked on the whole parent. */
async function freshOut(): Promise<{ parent: string; out: string }> {
  const parent = path.join(tmp, `case${n++}`);
  await fs.mkdir(parent);
  return { parent, out: path.join(parent, "imported") };
}

async function importError(opts: Parameters<typeof importWeights>[0]): Promise<WeightsImportError> {
  const err = await importWeights(opts).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WeightsImportError);
  return err as WeightsImportError;
}

describe("importWeights: bad input fails naming the file and tensor, and writes nothing", () => {
  it("a weights file for another architecture", async () => {
    const { parent, out } = await freshOut();
    const file = path.join(src, "resnet18.safetensors");
    const err = await importError({ file, arch: "mobilenet_v2", out });
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(
      /does not fit --arch mobilenet_v2: \d+ tensor\(s\) have no place in the graph/,
    );
    expect(err.message).toContain("conv1.weight");
    expect(err.message).toContain("The file looks like resnet18");
    expect(await fs.readdir(parent)).toEqual([]);
  });

  it("the same family at another size: missing blocks, or the first tensor whose shape does not fit", async () => {
    const { parent, out } = await freshOut();
    const file = path.join(src, "convnext_v2_atto.safetensors");
    const e1 = await importError({ file, arch: "convnext_v2_tiny", out });
    expect(e1.message).toMatch(
      /weight\(s\) of the graph are not in the file, e.g. stage0_block2_dwconv\/depthwise_kernel/,
    );
    expect(e1.message).toContain("The file looks like convnext_v2_atto, not convnext_v2_tiny.");
    // Same names, other widths: the first tensor that does not fit is named with both shapes.
    const e2 = await importError({
      file: path.join(src, "mobilenet_v2.safetensors"),
      arch: "mobilenet_v2",
      out,
      widthMultiplier: 0.5,
    });
    expect(e2.tensor).toBe("features.0.0.weight");
    expect(e2.message).toContain(
      "tensor 'features.0.0.weight' has shape [32,3,3,3] ([3,3,3,32] in our layout), but mobilenet_v2 x0.5 layer 'Conv1' weight 'kernel' needs [3,3,3,16]",
    );
    expect(await fs.readdir(parent)).toEqual([]);
  });

  it("a missing tensor and a left-over tensor are named", async () => {
    const { tensors } = await readSafetensors(path.join(src, "resnet18.safetensors"));
    const fewer = new Map(tensors);
    fewer.delete("layer3.1.bn2.running_var");
    const missingFile = path.join(tmp, "resnet18-missing.safetensors");
    await writeSafetensors(missingFile, fewer);
    const a = await freshOut();
    const e1 = await importError({ file: missingFile, arch: "resnet18", out: a.out });
    expect(e1.message).toContain(
      "1 weight(s) of the graph are not in the file, e.g. conv4_block2_2_bn/moving_variance",
    );
    expect(await fs.readdir(a.parent)).toEqual([]);

    const more = new Map(tensors);
    more.set("layer2.0.conv3.weight", { shape: [1, 1, 1, 1], data: new Float32Array(1) });
    const extraFile = path.join(tmp, "resnet18-extra.safetensors");
    await writeSafetensors(extraFile, more);
    const b = await freshOut();
    const e2 = await importError({ file: extraFile, arch: "resnet18", out: b.out });
    expect(e2.message).toContain("1 tensor(s) are left over, e.g. layer2.0.conv3.weight");
    expect(await fs.readdir(b.parent)).toEqual([]);
  });

  it("a truncated file", async () => {
    const bytes = await fs.readFile(path.join(src, "mobilenet_v2.safetensors"));
    const file = path.join(tmp, "mobilenet_v2-truncated.safetensors");
    await fs.writeFile(file, bytes.subarray(0, bytes.length - 1000));
    const { parent, out } = await freshOut();
    const err = await importError({ file, arch: "mobilenet_v2", out });
    expect(err.message).toMatch(
      /not a valid safetensors file: tensor '.+' ends at byte \d+ of the data but the file holds \d+ \(truncated\?\)/,
    );
    expect(err.tensor).toBeDefined();
    expect(err.message).toContain(file);

    const headerOnly = path.join(tmp, "mobilenet_v2-header-cut.safetensors");
    await fs.writeFile(headerOnly, bytes.subarray(0, 100));
    const e2 = await importError({ file: headerOnly, arch: "mobilenet_v2", out });
    expect(e2.message).toMatch(
      /header of \d+ bytes runs past the end of the file \(100 bytes; truncated\?\)/,
    );
    expect(await fs.readdir(parent)).toEqual([]);
  });

  it("a wrong --arch, a missing file, an existing output directory", async () => {
    const { parent, out } = await freshOut();
    const file = path.join(src, "resnet18.safetensors");
    const e1 = await importError({ file, arch: "resnet34" as "resnet18", out });
    expect(e1.message).toContain(
      "unknown --arch 'resnet34' (expected one of mobilenet_v2, resnet18, resnet50",
    );
    const e2 = await importError({ file: path.join(tmp, "absent.safetensors"), arch: "resnet18", out });
    expect(e2.message).toMatch(/cannot read .*absent\.safetensors/);
    expect(await fs.readdir(parent)).toEqual([]);
    await fs.mkdir(out);
    const e3 = await importError({ file, arch: "resnet18", out });
    expect(e3.message).toContain(`output ${out} already exists`);
    expect(await fs.readdir(out)).toEqual([]);
  });
});

describe("importWeights: bad Keras H5 input", () => {
  it("a truncated H5, an H5 for another arch, an arch Keras has no H5 for", async () => {
    const file = path.join(src, "mobilenet_v2_keras.h5");
    const { parent, out } = await freshOut();
    const bytes = await fs.readFile(file);
    const cut = path.join(tmp, "mobilenet_v2_keras-truncated.h5");
    await fs.writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const e1 = await importError({ file: cut, arch: "mobilenet_v2", out });
    expect(e1.message).toContain(cut);
    expect(e1.message).toMatch(/cannot (open|read) .*truncated/);

    const e2 = await importError({ file, arch: "resnet50", out });
    expect(e2.message).toContain(`${file}: does not fit --arch resnet50`);
    expect(e2.message).toContain("The file looks like mobilenet_v2");

    const e3 = await importError({ file, arch: "convnext_v2_atto", out });
    expect(e3.message).toContain("a Keras H5 file, but keras.applications has no convnext_v2_atto");
    expect(await fs.readdir(parent)).toEqual([]);
  });
});

describe("buildModel on an imported directory", () => {
  it("records what the weights expect, builds the source's graph, and refuses a different normalisation", async () => {
    const { out } = await freshOut();
    const file = path.join(src, "mobilenet_v2.safetensors");
    const res = await importWeights({ file, arch: "mobilenet_v2", out });
    const manifest = JSON.parse(await fs.readFile(path.join(out, MANIFEST_JSON), "utf8"));
    expect(manifest.imported).toMatchObject({
      arch: "mobilenet_v2",
      convention: "torch",
      padding: "symmetric",
      bnEpsilon: 1e-5,
      input: { colorOrder: "RGB", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      classifierClasses: 10,
      source: { file: "mobilenet_v2.safetensors", format: "safetensors", naming: "torchvision" },
    });
    // num_batches_tracked counts training steps; it is read and named as ignored, never silently dropped.
    expect(res.imported.source.ignored).toHaveLength(52);
    expect(res.imported.source.ignored.every((k) => k.endsWith(".num_batches_tracked"))).toBe(true);

    const base = {
      arch: "mobilenet_v2",
      imageSize: 32,
      numClasses: 3,
      dropout: 0.2,
      seed: 1,
      pretrainedDir: out,
    } as const;
    const built = await buildModel(base);
    expect(built.init).toBe("pretrained");
    // The source's graph: symmetric padding layer before the stem conv, BatchNorm eps 1e-5.
    expect(built.model.getLayer("Conv1_pad")).toBeDefined();
    expect((built.model.getLayer("bn_Conv1").getConfig() as { epsilon: number }).epsilon).toBe(1e-5);
    built.model.dispose();

    await expect(buildModel({ ...base, inputNormalization: KERAS_TF_MODE })).rejects.toThrow(
      `pretrained weights in ${out} (imported from mobilenet_v2.safetensors) expect inputs normalised as RGB mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225] (on 0..1 pixels), but the pipeline normalises as RGB mean [0.5, 0.5, 0.5] std [0.5, 0.5, 0.5] (on 0..1 pixels)`,
    );
    await expect(buildModel({ ...base, convention: "keras" })).rejects.toThrow(
      /were trained with torch conventions \(padding symmetric, BatchNorm eps 0.00001\); the model asks for 'keras'/,
    );
    await expect(buildModel({ ...base, arch: "resnet18" })).rejects.toThrow(
      /are for arch mobilenet_v2, not resnet18/,
    );
    await expect(buildModel({ ...base, pretrainedHead: true })).rejects.toThrow(
      /hold a 10-class classifier, not 3 classes/,
    );

    // A manifest whose normalisation was edited (BGR) no longer matches the pipeline's RGB ImageNet.
    manifest.imported.input.colorOrder = "BGR";
    await fs.writeFile(path.join(out, MANIFEST_JSON), JSON.stringify(manifest));
    await expect(buildModel(base)).rejects.toThrow(
      /expect inputs normalised as BGR mean .* but the pipeline normalises as RGB/,
    );
  });

  it("the source's graph matters: the same weights in the Keras-padded graph compute something else", async () => {
    // Control for the equivalence tests: without the manifest (a plain tfjs directory) the
    // default MobileNetV2 graph pads stride-2 convs TF-style and uses eps 1e-3.
    const { out } = await freshOut();
    await importWeights({ file: path.join(src, "mobilenet_v2.safetensors"), arch: "mobilenet_v2", out });
    const opts = {
      arch: "mobilenet_v2",
      imageSize: 32,
      numClasses: 10,
      dropout: 0,
      seed: 1,
      headUnits: [],
      pretrainedHead: true,
    } as const;
    const ours = await buildModel({ ...opts, pretrainedDir: out });
    const manifest = JSON.parse(await fs.readFile(path.join(out, MANIFEST_JSON), "utf8"));
    delete manifest.imported;
    await fs.writeFile(path.join(out, MANIFEST_JSON), JSON.stringify(manifest));
    const keras = await buildModel({ ...opts, pretrainedDir: out });
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 7);
    const a = ours.model.predict(x) as tf.Tensor;
    const b = keras.model.predict(x) as tf.Tensor;
    const rel =
      (tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number) / (tf.max(tf.abs(a)).dataSync()[0] as number);
    expect(rel).toBeGreaterThan(1e-2);
    tf.dispose([x, a, b]);
    ours.model.dispose();
    keras.model.dispose();
    expect(existsSync(out)).toBe(true);
  });
});

describe("pnpm xnn weights import (weightsCommand)", () => {
  function collect() {
    const text = { out: "", err: "" };
    const io = {
      out: {
        write: (s: string) => {
          text.out += s;
        },
      },
      err: {
        write: (s: string) => {
          text.err += s;
        },
      },
    };
    return { text, io };
  }

  it("imports, prints what the weights expect; bad input exits 1 or 2 and writes nothing", async () => {
    const { parent, out } = await freshOut();
    const file = path.join(src, "convnext_v2_atto.safetensors");
    const ok = collect();
    expect(await weightsCommand(["import", file, "--arch", "convnext_v2_atto", "--out", out], ok.io)).toBe(0);
    expect(ok.text.out).toContain("(safetensors, timm names)");
    expect(ok.text.out).toContain("LayerNorm eps 0.000001");
    expect(ok.text.out).toContain("inputs: RGB mean [0.485, 0.456, 0.406] std [0.229, 0.224, 0.225]");
    expect(existsSync(path.join(out, MANIFEST_JSON))).toBe(true);

    const bad = collect();
    const other = path.join(parent, "other");
    expect(await weightsCommand(["import", file, "--arch", "resnet50", "--out", other], bad.io)).toBe(1);
    expect(bad.text.err).toContain(`xnn weights import: ${file}: does not fit --arch resnet50`);
    expect(bad.text.err).toContain("The file looks like convnext_v2_atto");
    const usage = collect();
    expect(await weightsCommand(["import", file, "--arch", "resnet34", "--out", other], usage.io)).toBe(2);
    expect(usage.text.err).toContain("--arch must be one of mobilenet_v2, resnet18");
    expect(await weightsCommand(["import", file, "--out", other], collect().io)).toBe(2);
    expect(await fs.readdir(parent)).toEqual(["imported"]);
  });
});
