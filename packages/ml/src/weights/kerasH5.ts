import { CLASSIFIER_LAYER, type MapResult, type Naming } from "./names.js";
import { numel, type SourceTensors, WeightsImportError } from "./source.js";

// keras.applications' names are ours (models/README.md); only the classifier is renamed.
const KERAS_CLASSIFIER = "predictions";

const kerasNaming: Naming = {
  name: "keras",
  map(key): MapResult {
    // "<layer>/<weight>:0", possibly under a model scope ("mobilenetv2_1.00_224/Conv1/kernel:0").
    const parts = key.replace(/:\d+$/, "").split("/");
    if (parts.length < 2) return null;
    const weight = parts[parts.length - 1] as string;
    const layer = parts[parts.length - 2] as string;
    return { layer: layer === KERAS_CLASSIFIER ? CLASSIFIER_LAYER : layer, weight, layout: "same" };
  },
};

type H5 = typeof import("h5wasm/node").default;
type H5Group = InstanceType<H5["Group"]>;

function strings(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.map(String);
  return [];
}

/**
 * Reads the weights of a Keras 2 HDF5 file: `model.save("x.h5")` (layers under /model_weights) or
 * `save_weights` / the keras.applications downloads (layers at the root). Each layer group lists
 * its tensors in the attribute `weight_names`; the root lists the layers in `layer_names`.
 */
export async function readKerasH5(file: string): Promise<{ tensors: SourceTensors; naming: Naming }> {
  const h5wasm = (await import("h5wasm/node")).default;
  await h5wasm.ready;
  let f: InstanceType<H5["File"]>;
  try {
    f = new h5wasm.File(file, "r");
  } catch (err) {
    throw new WeightsImportError(
      `${file}: cannot open as HDF5 (${(err as Error).message}; truncated?)`,
      file,
    );
  }
  // h5wasm reports a failed open (a truncated file among others) as a negative id, not a throw.
  if (f.file_id < 0n)
    throw new WeightsImportError(
      `${file}: cannot open as HDF5 (the library refused it; truncated or corrupt?)`,
      file,
    );
  try {
    const mw = f.keys().includes("model_weights") ? f.get("model_weights") : f;
    if (!(mw instanceof h5wasm.Group))
      throw new WeightsImportError(`${file}: /model_weights is not a group`, file);
    const root = mw as H5Group;
    const layerAttr = root.attrs.layer_names;
    if (!layerAttr) {
      const keras3 = root.keys().includes("layers")
        ? " (a Keras 3 .weights.h5? save with tf.keras 2: model.save('x.h5'))"
        : "";
      throw new WeightsImportError(
        `${file}: not a Keras weights file: no 'layer_names' attribute${keras3}`,
        file,
      );
    }
    const tensors: SourceTensors = new Map();
    for (const layer of strings(layerAttr.value)) {
      const g = root.get(layer);
      if (!(g instanceof h5wasm.Group))
        throw new WeightsImportError(
          `${file}: layer_names lists '${layer}' but the file has no such group (truncated?)`,
          file,
          layer,
        );
      for (const name of strings(g.attrs.weight_names?.value ?? [])) {
        const key = `${layer}/${name}`;
        let ds: unknown;
        try {
          ds = g.get(name);
        } catch (err) {
          throw new WeightsImportError(
            `${file}: cannot read tensor '${name}' (${(err as Error).message})`,
            file,
            name,
          );
        }
        if (!(ds instanceof h5wasm.Dataset))
          throw new WeightsImportError(
            `${file}: layer '${layer}' lists weight '${name}' but holds no such dataset`,
            file,
            name,
          );
        const shape = ds.shape ?? [];
        let value: unknown;
        try {
          value = ds.value;
        } catch (err) {
          throw new WeightsImportError(
            `${file}: cannot read tensor '${name}' (${(err as Error).message}; truncated?)`,
            file,
            name,
          );
        }
        if (!ArrayBuffer.isView(value) || (value as Float32Array).length !== numel(shape))
          throw new WeightsImportError(
            `${file}: tensor '${name}' is not a numeric array of shape [${shape}]`,
            file,
            name,
          );
        // The weight name already carries the layer ("Conv1/kernel:0"); keep the file's own key.
        tensors.set(name.includes("/") ? name : key, {
          shape,
          data: Float32Array.from(value as unknown as ArrayLike<number>),
        });
      }
    }
    return { tensors, naming: kerasNaming };
  } catch (err) {
    if (err instanceof WeightsImportError) throw err;
    // HDF5 reports a cut-off file as whatever lookup first runs past the end.
    throw new WeightsImportError(
      `${file}: cannot read the HDF5 file (${(err as Error).message}; truncated or corrupt?)`,
      file,
    );
  } finally {
    try {
      f.close();
    } catch {
      /* a corrupt file may fail to close too; the error above is the one to report */
    }
  }
}

/** A guess at what a Keras file holds, for an error message when it does not fit `--arch`. */
export function guessKerasArch(keys: readonly string[]): string | null {
  const layers = new Set(keys.map((k) => k.split("/").slice(-2)[0]));
  if (layers.has("Conv1") && layers.has("block_16_project")) return "mobilenet_v2";
  if (layers.has("conv5_block3_3_conv")) return "resnet50";
  return null;
}
