import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
// Side effect: registers custom layers (GRN) so ConvNeXt V2 checkpoints deserialize here.
import "../models/layers.js";
import { faultPoint } from "@xnn/shared";

export const MODEL_JSON = "model.json";
export const WEIGHTS_BIN = "weights.bin";
export const MANIFEST_JSON = "manifest.json";

export interface CheckpointManifest {
  format: "xnn-checkpoint/1";
  /** sha256 over model.json bytes followed by weights.bin bytes. */
  sha256: string;
  files: Record<string, { sha256: string; sizeBytes: number }>;
  createdAt: string;
}

export interface SaveCheckpointResult {
  /** Absolute paths of the files in the final checkpoint directory. */
  files: string[];
  sha256: string;
  /** Total bytes of model.json + weights.bin (the manifest is excluded). */
  sizeBytes: number;
}

export class CheckpointError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = "CheckpointError";
  }
}

function sha256(...parts: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

async function writeFileSynced(file: string, data: Uint8Array | string): Promise<void> {
  const fh = await fs.open(file, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  // Directory fsync makes the rename itself durable; not all filesystems support it.
  try {
    const fh = await fs.open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

/**
 * Writes model.json + weights.bin + manifest.json into a sibling temp directory and renames it
 * into place, so readers see either the previous complete checkpoint or the new complete one.
 * An existing `dir` is swapped out (renamed aside, then deleted) rather than overwritten file by file.
 */
export async function saveCheckpoint(model: tf.LayersModel, dir: string): Promise<SaveCheckpointResult> {
  const finalDir = path.resolve(dir);
  const parent = path.dirname(finalDir);
  await fs.mkdir(parent, { recursive: true });
  await recoverInterruptedSwap(finalDir);
  // The overwrite path deletes the old directory, so refuse anything that isn't a checkpoint
  // (a mistyped --out pointing at a data or home directory must not be wiped).
  if (existsSync(finalDir)) {
    const entries = await fs.readdir(finalDir);
    const ours = new Set([MODEL_JSON, WEIGHTS_BIN, MANIFEST_JSON]);
    const foreign = entries.filter((e) => !ours.has(e));
    if (foreign.length > 0) {
      throw new Error(
        `saveCheckpoint: ${finalDir} exists and holds non-checkpoint files (${foreign.slice(0, 3).join(", ")}); refusing to replace it`,
      );
    }
  }
  const tag = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const tmpDir = path.join(parent, `.${path.basename(finalDir)}.tmp-${tag}`);

  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  if (!artifacts?.weightSpecs || artifacts.weightData === undefined) {
    throw new Error("saveCheckpoint: tfjs produced no weights (is the model built?)");
  }
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as object,
    format: artifacts.format ?? "layers-model",
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs }],
    ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
    ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
  };
  const jsonBytes = new TextEncoder().encode(JSON.stringify(modelJson));
  const manifest: CheckpointManifest = {
    format: "xnn-checkpoint/1",
    sha256: sha256(jsonBytes, weights),
    files: {
      [MODEL_JSON]: { sha256: sha256(jsonBytes), sizeBytes: jsonBytes.byteLength },
      [WEIGHTS_BIN]: { sha256: sha256(weights), sizeBytes: weights.byteLength },
    },
    createdAt: new Date().toISOString(),
  };

  try {
    await fs.mkdir(tmpDir);
    await writeFileSynced(path.join(tmpDir, WEIGHTS_BIN), weights);
    await writeFileSynced(path.join(tmpDir, MODEL_JSON), jsonBytes);
    // Manifest last: its presence in the temp dir means the other two are complete.
    await writeFileSynced(path.join(tmpDir, MANIFEST_JSON), `${JSON.stringify(manifest, null, 2)}\n`);
    await syncDir(tmpDir);

    if (existsSync(finalDir)) {
      const oldDir = path.join(parent, `.${path.basename(finalDir)}.old-${tag}`);
      await fs.rename(finalDir, oldDir);
      await faultPoint("checkpoint-swap");
      await fs.rename(tmpDir, finalDir);
      await fs.rm(oldDir, { recursive: true, force: true });
    } else {
      await fs.rename(tmpDir, finalDir);
    }
    await syncDir(parent);
  } catch (err) {
    await fs.rm(tmpDir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }

  return {
    files: [MODEL_JSON, WEIGHTS_BIN, MANIFEST_JSON].map((f) => path.join(finalDir, f)),
    sha256: manifest.sha256,
    sizeBytes: jsonBytes.byteLength + weights.byteLength,
  };
}

export async function readManifest(dir: string): Promise<CheckpointManifest | null> {
  const file = path.join(path.resolve(dir), MANIFEST_JSON);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    const m = JSON.parse(text) as CheckpointManifest;
    if (typeof m.sha256 !== "string" || typeof m.files !== "object" || m.files === null)
      throw new Error("missing sha256/files");
    return m;
  } catch (err) {
    throw new CheckpointError(`checkpoint manifest ${file} is corrupt: ${(err as Error).message}`, file);
  }
}

export interface ReadArtifactsOptions {
  /** Verify sha256 from manifest.json when present (default true). */
  verify?: boolean;
}

/**
 * Reads a tfjs LayersModel directory (model.json + weight shards listed in its manifest) into
 * ModelArtifacts. Works for our checkpoints and for tensorflowjs_converter output alike.
 */
export async function readModelArtifacts(
  dir: string,
  opts: ReadArtifactsOptions = {},
): Promise<tf.io.ModelArtifacts> {
  const root = path.resolve(dir);
  const jsonFile = path.join(root, MODEL_JSON);
  const manifest = opts.verify === false ? null : await readManifest(root);

  let jsonBytes: Buffer;
  try {
    jsonBytes = await fs.readFile(jsonFile);
  } catch (err) {
    throw new CheckpointError(`cannot read ${jsonFile}: ${(err as Error).message}`, jsonFile);
  }
  if (manifest) verifyFile(manifest, MODEL_JSON, jsonFile, jsonBytes);

  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(jsonBytes.toString("utf8")) as tf.io.ModelJSON;
    if (modelJson.modelTopology == null) throw new Error("no modelTopology");
  } catch (err) {
    throw new CheckpointError(`${jsonFile} is not a tfjs model.json: ${(err as Error).message}`, jsonFile);
  }

  return tf.io.getModelArtifactsForJSON(modelJson, async (weightsManifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of weightsManifest) {
      specs.push(...group.weights);
      for (const p of group.paths) {
        const file = path.join(root, p);
        let bytes: Buffer;
        try {
          bytes = await fs.readFile(file);
        } catch (err) {
          throw new CheckpointError(`cannot read weights file ${file}: ${(err as Error).message}`, file);
        }
        if (manifest) verifyFile(manifest, path.relative(root, file), file, bytes);
        buffers.push(
          bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
        );
      }
    }
    const data = tf.io.CompositeArrayBuffer.join(buffers);
    // Without a manifest (e.g. converter output) a truncated file is still caught here, by size.
    const expected = specs.reduce((n, s) => n + specByteSize(s), 0);
    if (data.byteLength !== expected) {
      const file = path.join(root, weightsManifest[0]?.paths[0] ?? WEIGHTS_BIN);
      throw new CheckpointError(
        `weights in ${root} are ${data.byteLength} bytes but model.json describes ${expected} bytes (truncated or corrupt ${file})`,
        file,
      );
    }
    return [specs, data];
  });
}

function verifyFile(manifest: CheckpointManifest, name: string, file: string, bytes: Uint8Array): void {
  const entry = manifest.files[name];
  if (!entry) return;
  const actual = sha256(bytes);
  if (actual !== entry.sha256 || bytes.byteLength !== entry.sizeBytes) {
    throw new CheckpointError(
      `checkpoint file ${file} is corrupt: sha256 ${actual} (${bytes.byteLength} bytes) does not match manifest ${entry.sha256} (${entry.sizeBytes} bytes)`,
      file,
    );
  }
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, string: 0 };

function specByteSize(s: tf.io.WeightsManifestEntry): number {
  if (s.quantization) {
    const q = s.quantization.dtype;
    const per = q === "uint8" ? 1 : q === "uint16" || q === "float16" ? 2 : 4;
    return s.shape.reduce((a, b) => a * b, 1) * per;
  }
  const per = DTYPE_BYTES[s.dtype];
  if (per === undefined || per === 0) throw new Error(`unsupported weight dtype ${s.dtype} for ${s.name}`);
  return s.shape.reduce((a, b) => a * b, 1) * per;
}

/**
 * Undoes what a crash inside saveCheckpoint left behind. Killed between its two renames, `dir` is
 * gone and the previous checkpoint sits aside as `.<name>.old-<tag>`: it is put back (the newest
 * one, should several crashes have left some). Temp directories of dead writers are removed.
 * Returns whether `dir` exists afterwards.
 */
export async function recoverInterruptedSwap(dir: string): Promise<boolean> {
  const finalDir = path.resolve(dir);
  const parent = path.dirname(finalDir);
  const name = path.basename(finalDir);
  if (!existsSync(parent)) return false;
  const entries = await fs.readdir(parent);
  const olds = entries.filter((e) => e.startsWith(`.${name}.old-`));
  const tmps = entries.filter(
    (e) => e.startsWith(`.${name}.tmp-`) && !e.startsWith(`.${name}.tmp-${process.pid}-`),
  );
  if (!existsSync(finalDir) && olds.length > 0) {
    const complete = [];
    for (const o of olds) {
      const full = path.join(parent, o);
      if (existsSync(path.join(full, MANIFEST_JSON)))
        complete.push({ full, mtime: (await fs.stat(full)).mtimeMs });
    }
    complete.sort((a, b) => b.mtime - a.mtime);
    if (complete[0]) await fs.rename(complete[0].full, finalDir);
  }
  for (const e of [...tmps, ...olds]) {
    const full = path.join(parent, e);
    if (existsSync(full)) await fs.rm(full, { recursive: true, force: true });
  }
  return existsSync(finalDir);
}

/** Loads a checkpoint written by saveCheckpoint (or any tfjs layers-model directory). Not compiled. */
export async function loadCheckpoint(dir: string): Promise<tf.LayersModel> {
  await recoverInterruptedSwap(dir);
  const artifacts = await readModelArtifacts(dir);
  const handler: tf.io.IOHandler = { load: async () => artifacts };
  try {
    return await tf.loadLayersModel(handler);
  } catch (err) {
    throw new CheckpointError(
      `cannot rebuild model from ${path.join(path.resolve(dir), MODEL_JSON)}: ${(err as Error).message}`,
      path.join(path.resolve(dir), MODEL_JSON),
    );
  }
}

export interface CopyWeightsOptions {
  /** Only these layers (default: every layer of `to` that has weights and exists in `from`). */
  layerNames?: string[];
  /** Throw if a requested layer is missing in `from` (default true when layerNames is given). */
  strict?: boolean;
}

/**
 * Copies weights layer-by-layer by name (e.g. an FE checkpoint into a freshly built model before
 * FT). Names, not positions, decide, so head/backbone edits don't shift weights into wrong layers.
 * Returns the names of the layers copied.
 */
export function copyWeights(
  from: tf.LayersModel,
  to: tf.LayersModel,
  opts: CopyWeightsOptions = {},
): string[] {
  const strict = opts.strict ?? opts.layerNames !== undefined;
  const names = opts.layerNames ?? to.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
  // Validate every layer before writing any, so a mismatch never leaves `to` half-copied.
  const plan: Array<{ dst: tf.layers.Layer; values: tf.Tensor[] }> = [];
  for (const name of names) {
    const dst = to.getLayer(name);
    let src: tf.layers.Layer | undefined;
    try {
      src = from.getLayer(name);
    } catch {
      src = undefined;
    }
    if (!src) {
      if (strict) throw new Error(`copyWeights: layer '${name}' not found in source model '${from.name}'`);
      continue;
    }
    const srcW = src.getWeights();
    const dstW = dst.weights;
    if (srcW.length !== dstW.length) {
      throw new Error(
        `copyWeights: layer '${name}' has ${srcW.length} weights in source, ${dstW.length} in target`,
      );
    }
    srcW.forEach((w, i) => {
      const d = dstW[i];
      if (!d || !tf.util.arraysEqual(w.shape, d.shape as number[])) {
        throw new Error(
          `copyWeights: layer '${name}' weight ${i} shape [${w.shape}] != target [${d?.shape ?? "missing"}]`,
        );
      }
    });
    plan.push({ dst, values: srcW });
  }
  const copied: string[] = [];
  for (const { dst, values } of plan) {
    dst.setWeights(values);
    copied.push(dst.name);
  }
  return copied;
}
