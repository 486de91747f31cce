import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { MODEL_NAMES as ARCHS, type ModelName as Arch } from "@xnn/shared";
import { MANIFEST_JSON, MODEL_JSON, WEIGHTS_BIN } from "../checkpoint/checkpoint.js";
import { buildModelSkeleton } from "../models/build.js";
import type { WeightsConvention } from "../models/conventions.js";
import { guessKerasArch, readKerasH5 } from "./kerasH5.js";
import { targetShape, toTargetLayout } from "./layout.js";
import {
  IMAGENET_RGB,
  type ImportedWeights,
  type InputNormalization,
  KERAS_CAFFE_MODE,
  KERAS_TF_MODE,
} from "./manifest.js";
import { CLASSIFIER_LAYER, guessTorchArch, type Naming, type Target, torchNaming } from "./names.js";
import { readSafetensors } from "./safetensors.js";
import { type SourceTensor, type SourceTensors, WeightsImportError } from "./source.js";

export interface ImportWeightsOptions {
  /** A .safetensors state dict (torchvision/timm names) or a Keras .h5 (keras.applications names). */
  file: string;
  arch: Arch;
  /** Output directory; must not exist yet. Usable as `model.pretrainedDir`. */
  out: string;
  /** MobileNetV2 only; default 1. */
  widthMultiplier?: number;
}

export interface ImportWeightsResult {
  out: string;
  imported: ImportedWeights;
  /** Tensors written (our names, `<layer>/<weight>`). */
  tensors: number;
  parameters: number;
}

interface ReadSource {
  tensors: SourceTensors;
  format: ImportedWeights["source"]["format"];
  naming: Naming;
  convention: WeightsConvention;
  input: InputNormalization;
}

/**
 * Converts published weights into a tfjs layers-model directory our graphs load by name
 * (`buildModel({ pretrainedDir })`), recording in manifest.json what the weights expect (input
 * normalisation, graph conventions). Every tensor of the file must land in the graph, and every
 * weight of the graph's backbone must come from the file; anything else fails naming the file and
 * tensor, and writes nothing (the output appears by one rename at the end).
 */
export async function importWeights(opts: ImportWeightsOptions): Promise<ImportWeightsResult> {
  const file = path.resolve(opts.file);
  if (!ARCHS.includes(opts.arch))
    throw new WeightsImportError(
      `unknown --arch '${String(opts.arch)}' (expected one of ${ARCHS.join(", ")})`,
      file,
    );
  const out = path.resolve(opts.out);
  if (existsSync(out))
    throw new WeightsImportError(`output ${out} already exists; choose a new directory`, file);
  const widthMultiplier = opts.widthMultiplier ?? 1;

  const src = await readSource(file, opts.arch);
  const keys = [...src.tensors.keys()];

  // Map every source tensor; collect what maps nowhere.
  const targets = new Map<string, { key: string; target: Target; tensor: SourceTensor }>();
  const ignored: string[] = [];
  const unknown: string[] = [];
  for (const [key, tensor] of src.tensors) {
    const t = src.naming.map(key);
    if (t === "ignore") ignored.push(key);
    else if (t === null) unknown.push(key);
    else targets.set(`${t.layer}/${t.weight}`, { key, target: t, tensor });
  }
  const classifier = targets.get(`${CLASSIFIER_LAYER}/kernel`);
  // PyTorch Linear weights are [out, in]; Keras Dense kernels [in, out].
  const classes = classifier
    ? ((classifier.tensor.shape[classifier.target.layout === "linear" ? 0 : 1] ?? 0) as number)
    : null;

  const wrongArch = (why: string): never => {
    const guess =
      src.format === "safetensors"
        ? guessTorchArch(keys, (k) => src.tensors.get(k)?.shape)
        : guessKerasArch(keys);
    const hint = guess && guess !== opts.arch ? ` The file looks like ${guess}, not ${opts.arch}.` : "";
    throw new WeightsImportError(`${file}: does not fit --arch ${opts.arch}: ${why}.${hint}`, file);
  };
  if (unknown.length > 0)
    wrongArch(
      `${unknown.length} tensor(s) have no place in the graph (${src.naming.name} naming), e.g. ${unknown.slice(0, 5).join(", ")}`,
    );

  // The graph the weights will be loaded into: backbone + (when the file has one) the classifier.
  // Building it needs a backend: in a process that registered wasm (the library's entry does),
  // the highest-priority backend must finish its async start first.
  await tf.ready();
  let skeleton: ReturnType<typeof buildModelSkeleton>;
  try {
    skeleton = buildModelSkeleton({
      arch: opts.arch,
      widthMultiplier,
      imageSize: 224,
      numClasses: Math.max(2, classes ?? 2),
      dropout: 0,
      seed: 0,
      headUnits: [],
      convention: src.convention,
    });
  } catch (err) {
    throw new WeightsImportError(`${file}: ${(err as Error).message}`, file);
  }
  try {
    const layerNames = [...skeleton.backboneLayerNames, ...(classes !== null ? [CLASSIFIER_LAYER] : [])];
    // Names first (a file for another arch is best told by what is missing or left over), then shapes.
    const plan: Array<{
      name: string;
      weight: string;
      shape: number[];
      hit: NonNullable<ReturnType<typeof targets.get>>;
    }> = [];
    const missing: string[] = [];
    for (const name of layerNames) {
      for (const w of skeleton.model.getLayer(name).weights) {
        const weight = w.originalName.slice(w.originalName.lastIndexOf("/") + 1);
        const hit = targets.get(`${name}/${weight}`);
        if (hit) plan.push({ name, weight, shape: w.shape as number[], hit });
        else missing.push(`${name}/${weight}`);
      }
    }
    if (missing.length > 0)
      wrongArch(
        `${missing.length} weight(s) of the graph are not in the file, e.g. ${missing.slice(0, 5).join(", ")}`,
      );
    const used = new Set(plan.map((p) => `${p.name}/${p.weight}`));
    const leftover = [...targets.entries()].filter(([k]) => !used.has(k)).map(([, v]) => v.key);
    if (leftover.length > 0)
      wrongArch(`${leftover.length} tensor(s) are left over, e.g. ${leftover.slice(0, 5).join(", ")}`);

    const specs: tf.io.WeightsManifestEntry[] = [];
    const chunks: Float32Array[] = [];
    for (const { name, weight, shape: needed, hit } of plan) {
      const shape = targetShape(hit.tensor.shape, hit.target.layout);
      if (!shape || !tf.util.arraysEqual(shape, needed)) {
        const why = `tensor '${hit.key}' has shape [${hit.tensor.shape}]${shape ? ` ([${shape}] in our layout)` : ""}, but ${opts.arch}${widthMultiplier !== 1 ? ` x${widthMultiplier}` : ""} layer '${name}' weight '${weight}' needs [${needed}]`;
        throw new WeightsImportError(`${file}: does not fit --arch ${opts.arch}: ${why}`, file, hit.key);
      }
      specs.push({ name: `${name}/${weight}`, shape, dtype: "float32" });
      chunks.push(toTargetLayout(hit.tensor, hit.target.layout));
    }

    const eps = bnAndLnEpsilon(opts.arch, src.convention);
    const imported: ImportedWeights = {
      format: "xnn-imported-weights/1",
      arch: opts.arch,
      widthMultiplier,
      convention: src.convention,
      padding: src.convention === "torch" ? "symmetric" : "tf-same",
      bnEpsilon: eps.bn,
      lnEpsilon: eps.ln,
      input: src.input,
      classifierClasses: classes,
      source: {
        file: path.basename(file),
        sha256: createHash("sha256")
          .update(await fs.readFile(file))
          .digest("hex"),
        format: src.format,
        naming: src.naming.name,
        tensors: src.tensors.size,
        ignored,
      },
    };
    // With a classifier the topology is the whole source network (loadable with loadCheckpoint);
    // without one a stub, since pretrainedDir loading reads only the weights.
    const modelTopology =
      classes !== null
        ? (skeleton.model.toJSON(undefined, false) as object)
        : { class_name: "XnnBackboneWeights", config: { arch: opts.arch, widthMultiplier } };
    await writeImport(out, modelTopology, specs, chunks, imported);
    const parameters = chunks.reduce((n, c) => n + c.length, 0);
    return { out, imported, tensors: specs.length, parameters };
  } finally {
    skeleton.model.dispose();
  }
}

function bnAndLnEpsilon(arch: Arch, convention: WeightsConvention): { bn: number | null; ln: number | null } {
  if (arch.startsWith("convnext")) return { bn: null, ln: 1e-6 };
  if (convention === "torch") return { bn: 1e-5, ln: null };
  return { bn: arch === "mobilenet_v2" ? 1e-3 : 1.001e-5, ln: null };
}

async function readSource(file: string, arch: Arch): Promise<ReadSource> {
  const head = await readHead(file);
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    if (arch !== "mobilenet_v2" && arch !== "resnet50")
      throw new WeightsImportError(
        `${file}: a Keras H5 file, but keras.applications has no ${arch} (Keras H5 import covers mobilenet_v2 and resnet50)`,
        file,
      );
    const { tensors, naming } = await readKerasH5(file);
    return {
      tensors,
      format: "keras-h5",
      naming,
      convention: "keras",
      input: arch === "mobilenet_v2" ? KERAS_TF_MODE : KERAS_CAFFE_MODE,
    };
  }
  const { tensors } = await readSafetensors(file);
  if (tensors.size === 0) throw new WeightsImportError(`${file}: holds no tensors`, file);
  return {
    tensors,
    format: "safetensors",
    naming: torchNaming(arch, [...tensors.keys()]),
    convention: "torch",
    input: IMAGENET_RGB,
  };
}

async function readHead(file: string): Promise<Buffer> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, "r");
  } catch (err) {
    throw new WeightsImportError(`cannot read ${file}: ${(err as Error).message}`, file);
  }
  try {
    const b = Buffer.alloc(8);
    const { bytesRead } = await fh.read(b, 0, 8, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function writeSynced(file: string, data: Uint8Array | string): Promise<void> {
  const fh = await fs.open(file, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** model.json + weights.bin + manifest.json (the checkpoint format, plus `imported`), in a temp dir renamed into place. */
async function writeImport(
  out: string,
  modelTopology: object,
  specs: tf.io.WeightsManifestEntry[],
  chunks: Float32Array[],
  imported: ImportedWeights,
): Promise<void> {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const weights = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    weights.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), off);
    off += c.byteLength;
  }
  const modelJson: tf.io.ModelJSON = {
    modelTopology,
    format: "layers-model",
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: `xnn weights import (${imported.source.file})`,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: specs }],
  };
  const jsonBytes = new TextEncoder().encode(JSON.stringify(modelJson));
  const sha = (...parts: Uint8Array[]) => {
    const h = createHash("sha256");
    for (const p of parts) h.update(p);
    return h.digest("hex");
  };
  const manifest = {
    format: "xnn-checkpoint/1",
    sha256: sha(jsonBytes, weights),
    files: {
      [MODEL_JSON]: { sha256: sha(jsonBytes), sizeBytes: jsonBytes.byteLength },
      [WEIGHTS_BIN]: { sha256: sha(weights), sizeBytes: weights.byteLength },
    },
    createdAt: new Date().toISOString(),
    imported,
  };
  const parent = path.dirname(out);
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(
    parent,
    `.${path.basename(out)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
  try {
    await fs.mkdir(tmp);
    await writeSynced(path.join(tmp, WEIGHTS_BIN), weights);
    await writeSynced(path.join(tmp, MODEL_JSON), jsonBytes);
    await writeSynced(path.join(tmp, MANIFEST_JSON), `${JSON.stringify(manifest, null, 2)}\n`);
    await fs.rename(tmp, out);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}
