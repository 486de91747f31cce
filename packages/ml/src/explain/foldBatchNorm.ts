import * as tf from "@tensorflow/tfjs";
// Side effect: registers custom layers (GRN) so models that contain them can be rebuilt from JSON.
import "../models/layers.js";
import { type FusedActivation, FusedConv } from "./fusedConv.js";

/**
 * Inference-only rewrites of a tfjs LayersModel for explanation (Integrated Gradients runs the
 * model in inference mode only, forward + input gradient, thousands of times per image):
 *
 * - BatchNormalization right after a Conv2D / DepthwiseConv2D / Dense is an affine map per output
 *   channel, y = (z - mean) * gamma / sqrt(var + eps) + beta, so it folds into that layer:
 *   kernel * s per output channel and bias (bias - mean) * s + beta, s = gamma / sqrt(var + eps).
 *   The conv then runs as one fused conv + bias, and neither the batch norm nor its gradient
 *   (FusedBatchNorm, Tile, Sub, Multiply over full activations) runs any more.
 * - ZeroPadding2D right before a 'valid' conv whose padding is exactly what 'same' would pad
 *   (MobileNetV2's stride-2 blocks) is dropped and the conv made 'same': no PadV2 forward and no
 *   Slice of the full gradient backward.
 * - ReLU({maxValue: 6}) becomes one relu6 op (ReLU6), and a ReLU / ReLU6 right after a conv is
 *   computed inside it: every Conv2D / DepthwiseConv2D becomes a FusedConv (conv + bias +
 *   activation in one kernel, with an input-only gradient; see fusedConv.ts).
 *
 * Only these patterns are touched, and only where the rewrite is exact: the intermediate tensor
 * must have no other consumer, the conv must not be shared and must have a linear activation,
 * the batch norm must normalise the last axis. Every other layer (LayerNormalization, GRN, ...)
 * is copied as it is: ConvNeXt keeps its LayerNorms, only its convs become FusedConv.
 */

/**
 * ReLU6 as one op: tf.relu6 (one Relu6 kernel forward, one fused gradient kernel backward on wasm,
 * see backend/kernels/activationGrads.ts) instead of tf.layers' ReLU({maxValue: 6}), which runs relu and
 * then clipByValue (two kernels each way). Same values; the gradient is dy for 0 < x <= 6 and a zero
 * elsewhere in both (the zero's sign may differ above 6).
 */
export class ReLU6 extends tf.layers.Layer {
  static className = "XnnReLU6";

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!x) throw new Error(`ReLU6 '${this.name}' called without an input`);
    return tf.relu6(x);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }
}
tf.serialization.registerClass(ReLU6);

type Json = Record<string, unknown>;
/** [layerName, nodeIndex, tensorIndex, kwargs] as in the functional config. */
type NodeRef = [string, number, number, Json?];

interface LayerJson {
  name: string;
  className: string;
  config: Json;
  inboundNodes: unknown[];
}

/** Container.getConfig(): the functional graph in tfjs' own (camelCase) format. */
interface ModelJson {
  name: string;
  layers: LayerJson[];
  inputLayers: unknown;
  outputLayers: unknown;
}

const FOLD_INTO = new Set(["Conv2D", "DepthwiseConv2D", "Dense"]);
const PAD_INTO = new Set(["Conv2D", "DepthwiseConv2D"]);

export interface FoldReport {
  /** Batch norm layer name -> the layer it was folded into. */
  foldedBatchNorms: Record<string, string>;
  /** ZeroPadding2D layer name -> the conv that now pads itself ('same'). */
  foldedPads: Record<string, string>;
  /** ReLU({maxValue: 6}) layers now computed by one relu6 op (ReLU6). */
  relu6Layers: string[];
  /** Convs now run as FusedConv (conv + bias + activation in one kernel). */
  fusedConvs: string[];
  /** Activation layer name -> the FusedConv that now computes it. */
  fusedActivations: Record<string, string>;
}

export interface FoldOptions {
  /** Fold 'same'-equivalent ZeroPadding2D into the next conv. Default true. */
  pads?: boolean;
  /** Replace ReLU({maxValue: 6}) layers with ReLU6. Default true. */
  relu6?: boolean;
  /**
   * Run convs as FusedConv, with a following ReLU / ReLU6 inside. Input gradients only (weights
   * become constants). Default true.
   */
  fuseConvs?: boolean;
}

function isRef(v: unknown): v is NodeRef {
  return Array.isArray(v) && typeof v[0] === "string" && typeof v[1] === "number" && typeof v[2] === "number";
}

/** The refs of a layer's inbound nodes, or null when the format is not the plain list one. */
function nodeRefs(layer: LayerJson): NodeRef[][] | null {
  if (!Array.isArray(layer.inboundNodes)) return null;
  const out: NodeRef[][] = [];
  for (const node of layer.inboundNodes) {
    if (!Array.isArray(node) || !node.every(isRef)) return null;
    out.push(node as NodeRef[]);
  }
  return out;
}

/** The single input of a layer called exactly once on exactly one tensor, else null. */
function singleInput(layer: LayerJson): NodeRef | null {
  const nodes = nodeRefs(layer);
  if (nodes?.length !== 1 || nodes[0]?.length !== 1) return null;
  return nodes[0][0] as NodeRef;
}

/** Every reference to any output of `name`, across the inbound nodes of the layers not removed and the model outputs. */
function countUses(model: ModelJson, name: string, removed: ReadonlySet<string>): number {
  let n = 0;
  for (const l of model.layers) {
    if (removed.has(l.name)) continue;
    for (const node of nodeRefs(l) ?? []) for (const r of node) if (r[0] === name) n++;
  }
  const outs = model.outputLayers;
  if (Array.isArray(outs)) for (const r of outs) if (Array.isArray(r) && r[0] === name) n++;
  return n;
}

/** Replaces every reference to `from` (a single-output layer) with output 0 of `to`. */
function rewire(model: ModelJson, from: string, to: string): void {
  for (const l of model.layers) {
    for (const node of nodeRefs(l) ?? []) {
      for (const r of node) {
        if (r[0] === from) {
          r[0] = to;
          r[1] = 0;
          r[2] = 0;
        }
      }
    }
  }
  const outs = model.outputLayers;
  if (Array.isArray(outs)) {
    for (const r of outs) {
      if (Array.isArray(r) && r[0] === from) {
        r[0] = to;
        r[1] = 0;
        r[2] = 0;
      }
    }
  }
}

function symbolicShape(t: tf.SymbolicTensor | tf.SymbolicTensor[]): (number | null)[] | null {
  return Array.isArray(t) ? null : (t.shape as (number | null)[]);
}

function isLinear(activation: unknown): boolean {
  return activation === undefined || activation === null || activation === "linear";
}

export function channelsLast(cfg: Json): boolean {
  return cfg.dataFormat === undefined || cfg.dataFormat === null || cfg.dataFormat === "channelsLast";
}

function pair(v: unknown): [number, number] | null {
  if (typeof v === "number") return [v, v];
  if (!Array.isArray(v) || v.length !== 2) return null;
  const [a, b] = v as unknown[];
  return typeof a === "number" && typeof b === "number" ? [a, b] : null;
}

/** ZeroPadding2D's padding as [[top, bottom], [left, right]]. */
export function padOf(cfg: Json): [[number, number], [number, number]] | null {
  const p = cfg.padding;
  if (typeof p === "number") {
    return [
      [p, p],
      [p, p],
    ];
  }
  if (!Array.isArray(p) || p.length !== 2) return null;
  const h = pair(p[0]);
  const w = pair(p[1]);
  return h && w ? [h, w] : null;
}

/** Weights of a batch norm layer by role (tfjs orders them gamma, beta, mean, variance; names decide here). */
function bnParams(layer: tf.layers.Layer): {
  gamma?: Float32Array;
  beta?: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
} {
  const byRole: Record<string, Float32Array> = {};
  const values = layer.getWeights();
  layer.weights.forEach((w, i) => {
    const role = w.originalName.split("/").pop() ?? w.originalName;
    byRole[role] = (values[i] as tf.Tensor).dataSync() as Float32Array;
  });
  const mean = byRole.moving_mean;
  const variance = byRole.moving_variance;
  if (!mean || !variance) throw new Error(`foldBatchNorm: ${layer.name} has no moving statistics`);
  return { gamma: byRole.gamma, beta: byRole.beta, mean, variance };
}

/**
 * Returns a new model computing the same function in inference mode, with batch norms folded into
 * the preceding conv / depthwise conv / dense layers and explicit 'same'-equivalent zero padding
 * folded into the conv after it (see the module comment). Same inputs, outputs and output values
 * (up to float32 rounding of the folded weights). The original model is not modified; the caller
 * owns (and disposes) the returned model. Layers it does not understand are copied as they are.
 * Not for training: the folded model has no batch statistics.
 */
export function foldBatchNorm(model: tf.LayersModel, opts: FoldOptions = {}): tf.LayersModel {
  return foldBatchNormWithReport(model, opts).model;
}

/**
 * The model integratedGradients should run for `model`: foldBatchNorm with every rewrite. A new
 * model (the caller disposes it); `model` itself is not changed.
 */
export function prepareForExplanation(model: tf.LayersModel): tf.LayersModel {
  return foldBatchNorm(model);
}

/** foldBatchNorm, also returning what was rewritten. */
export function foldBatchNormWithReport(
  model: tf.LayersModel,
  opts: FoldOptions = {},
): { model: tf.LayersModel; report: FoldReport } {
  if (model instanceof tf.Sequential) {
    throw new Error(
      "foldBatchNorm: expects a functional model (tf.model, buildModel, loadCheckpoint), got a tf.Sequential",
    );
  }
  // A deep copy: getConfig() may hand out the layers' own arrays.
  const json = JSON.parse(JSON.stringify(model.getConfig())) as ModelJson;
  const report: FoldReport = {
    foldedBatchNorms: {},
    foldedPads: {},
    relu6Layers: [],
    fusedConvs: [],
    fusedActivations: {},
  };
  const layers = json.layers;
  if (!Array.isArray(layers) || !Array.isArray(json.inputLayers)) {
    throw new Error("foldBatchNorm: the model is not a functional model");
  }
  const byName = new Map(layers.map((l) => [l.name, l]));
  const removed = new Set<string>();
  // conv layer name -> batch norm folded into it
  const foldedInto = new Map<string, string>();

  for (const bn of layers) {
    if (bn.className !== "BatchNormalization") continue;
    const axis = bn.config.axis;
    const ref = singleInput(bn);
    if (ref?.[1] !== 0 || ref[2] !== 0) continue;
    const src = byName.get(ref[0]);
    if (!src || !FOLD_INTO.has(src.className) || foldedInto.has(src.name)) continue;
    if (!singleInput(src) || !isLinear(src.config.activation) || !channelsLast(src.config)) continue;
    if (countUses(json, src.name, removed) !== 1) continue;
    // The normalised axis must be the channel axis of the layer's output.
    const outShape = symbolicShape(model.getLayer(src.name).output);
    if (!outShape) continue;
    const rank = outShape.length;
    if (!(axis === -1 || (Array.isArray(axis) && axis.length === 1 && axis[0] === -1) || axis === rank - 1))
      continue;
    src.config.useBias = true;
    foldedInto.set(src.name, bn.name);
    rewire(json, bn.name, src.name);
    removed.add(bn.name);
    report.foldedBatchNorms[bn.name] = src.name;
  }

  for (const pad of layers) {
    if (opts.pads === false) break;
    if (pad.className !== "ZeroPadding2D" || removed.has(pad.name)) continue;
    if (!channelsLast(pad.config)) continue;
    const p = padOf(pad.config);
    const ref = singleInput(pad);
    if (!p || !ref) continue;
    const users = layers.filter(
      (l) => !removed.has(l.name) && (nodeRefs(l) ?? []).some((n) => n.some((r) => r[0] === pad.name)),
    );
    if (users.length !== 1 || countUses(json, pad.name, removed) !== 1) continue;
    const conv = users[0] as LayerJson;
    if (!PAD_INTO.has(conv.className) || conv.config.padding !== "valid" || !channelsLast(conv.config))
      continue;
    if (!singleInput(conv)) continue;
    const k = pair(conv.config.kernelSize);
    const s = pair(conv.config.strides);
    const d = pair(conv.config.dilationRate ?? 1);
    if (!k || !s || !d || d[0] !== 1 || d[1] !== 1) continue;
    const inShape = symbolicShape(model.getLayer(pad.name).input);
    if (inShape?.length !== 4) continue;
    const [, H, W, C] = inShape;
    if (typeof H !== "number" || typeof W !== "number" || typeof C !== "number") continue;
    const same = tf.backend_util.computeConv2DInfo([1, H, W, C], [k[0], k[1], C, 1], s, 1, "same");
    const pi = same.padInfo;
    if (pi.top !== p[0][0] || pi.bottom !== p[0][1] || pi.left !== p[1][0] || pi.right !== p[1][1]) continue;
    conv.config.padding = "same";
    rewire(json, pad.name, ref[0]);
    // rewire() points refs at output 0; restore the pad input's own node/tensor indices.
    for (const node of nodeRefs(conv) ?? []) {
      for (const r of node) {
        if (r[0] === ref[0]) {
          r[1] = ref[1];
          r[2] = ref[2];
        }
      }
    }
    removed.add(pad.name);
    report.foldedPads[pad.name] = conv.name;
  }

  if (opts.relu6 !== false) {
    for (const l of layers) {
      if (l.className !== "ReLU" || l.config.maxValue !== 6) continue;
      l.className = ReLU6.className;
      l.config = { name: l.config.name, trainable: l.config.trainable, dtype: l.config.dtype };
      report.relu6Layers.push(l.name);
    }
  }

  if (opts.fuseConvs !== false) {
    for (const conv of layers) {
      if (removed.has(conv.name) || !PAD_INTO.has(conv.className)) continue;
      const cfg = conv.config;
      const k = pair(cfg.kernelSize);
      const st = pair(cfg.strides);
      const d = pair(cfg.dilationRate ?? 1);
      const act = cfg.activation ?? "linear";
      if (!k || !st || !d || d[0] !== 1 || d[1] !== 1 || !channelsLast(cfg) || !singleInput(conv)) continue;
      if (cfg.padding !== "same" && cfg.padding !== "valid") continue;
      if (act !== "linear" && act !== "relu" && act !== "relu6") continue;
      let activation = act as FusedActivation;
      if (activation === "linear" && countUses(json, conv.name, removed) === 1) {
        const next = layers.find(
          (l) => !removed.has(l.name) && singleInput(l)?.[0] === conv.name && singleInput(l)?.[1] === 0,
        );
        const relu6 = next?.className === ReLU6.className;
        const relu =
          next?.className === "ReLU" && (next.config.maxValue === null || next.config.maxValue === undefined);
        if (next && (relu6 || relu)) {
          activation = relu6 ? "relu6" : "relu";
          rewire(json, next.name, conv.name);
          removed.add(next.name);
          report.fusedActivations[next.name] = conv.name;
        }
      }
      const depthwise = conv.className === "DepthwiseConv2D";
      conv.className = FusedConv.className;
      conv.config = {
        name: cfg.name,
        kind: depthwise ? "depthwise" : "conv",
        filters: depthwise ? null : cfg.filters,
        depthMultiplier: depthwise ? (cfg.depthMultiplier ?? 1) : 1,
        kernelSize: k,
        strides: st,
        padding: cfg.padding,
        useBias: cfg.useBias !== false,
        activation,
      };
      report.fusedConvs.push(conv.name);
    }
  }

  json.layers = layers.filter((l) => !removed.has(l.name));
  // Every weight is overwritten below: skip the (slow, seeded) random initialisation.
  for (const l of json.layers) {
    for (const key of Object.keys(l.config)) {
      const v = l.config[key];
      if (key.endsWith("Initializer") && v && typeof v === "object" && "className" in v) {
        l.config[key] = { className: "Zeros", config: {} };
      }
    }
  }
  json.name = `${json.name}_folded`;

  const out = tf.LayersModel.fromConfig(
    tf.LayersModel as unknown as tf.serialization.SerializableConstructor<tf.LayersModel>,
    json as unknown as tf.serialization.ConfigDict,
  ) as tf.LayersModel;
  try {
    for (const layer of out.layers) {
      if (layer.weights.length === 0) continue;
      const orig = model.getLayer(layer.name);
      const bnName = foldedInto.get(layer.name);
      if (bnName === undefined) {
        // Variables take the tensors by reference (refcounted), so this shares, not copies, memory.
        layer.setWeights(orig.getWeights());
        continue;
      }
      const w = foldedWeights(orig, model.getLayer(bnName), bnName, layer);
      layer.setWeights(w);
      tf.dispose(w);
    }
  } catch (e) {
    out.dispose();
    throw e;
  }
  return { model: out, report };
}

/** [kernel, bias] of `conv` with batch norm `bn` folded in, computed in float64. */
function foldedWeights(
  conv: tf.layers.Layer,
  bn: tf.layers.Layer,
  bnName: string,
  target: tf.layers.Layer,
): tf.Tensor[] {
  const { gamma, beta, mean, variance } = bnParams(bn);
  const eps = (bn.getConfig().epsilon as number | undefined) ?? 1e-3;
  const C = mean.length;
  const scale = new Float64Array(C);
  for (let c = 0; c < C; c++)
    scale[c] = (gamma ? (gamma[c] as number) : 1) / Math.sqrt((variance[c] as number) + eps);
  const [kernelT, biasT] = conv.getWeights();
  if (!kernelT) throw new Error(`foldBatchNorm: ${conv.name} has no kernel`);
  const k = kernelT.dataSync() as Float32Array;
  // Conv2D [kh, kw, ci, co], DepthwiseConv2D [kh, kw, c, m] (output channel c*m_count + m), Dense
  // [in, out]: in every case the output channel of a kernel element is its flat index mod C.
  if (k.length % C !== 0)
    throw new Error(`foldBatchNorm: ${conv.name} kernel does not match ${bnName} (${C} channels)`);
  const kOut = new Float32Array(k.length);
  for (let i = 0; i < k.length; i++) kOut[i] = (k[i] as number) * (scale[i % C] as number);
  const b = biasT ? (biasT.dataSync() as Float32Array) : null;
  const bOut = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    bOut[c] =
      ((b ? (b[c] as number) : 0) - (mean[c] as number)) * (scale[c] as number) +
      (beta ? (beta[c] as number) : 0);
  }
  const shapes = target.weights.map((w) => w.shape as number[]);
  if (shapes.length !== 2)
    throw new Error(`foldBatchNorm: folded ${target.name} should have a kernel and a bias`);
  return [tf.tensor(kOut, shapes[0]), tf.tensor(bOut, shapes[1])];
}
