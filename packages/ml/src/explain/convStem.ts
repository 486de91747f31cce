import * as tf from "@tensorflow/tfjs";
import { channelsLast, padOf } from "./foldBatchNorm.js";
import { activationGrad, type FusedActivation, FusedConv } from "./fusedConv.js";

/** The parts of tfjs-layers' graph node that the stem plan reads (tfjs does not export the type). */
interface GraphNode {
  outboundLayer: tf.layers.Layer;
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
  callArgs?: Record<string, unknown>;
}

/**
 * A model whose only consumer of its image input is a plain convolution with a ReLU or ReLU6 (a
 * FusedConv of kind "conv", as prepareForExplanation makes of MobileNetV2's first conv + batch norm):
 * its pre-activation is affine in the input, so along the IG path x' + a (x - x') it is
 * u(a) = [conv(x') + bias] + a conv(x - x'), two convolutions per explanation instead of one per point.
 * A ZeroPadding2D between the image and the conv (ResNet's, where the pad does not fold into the
 * conv) is part of the stem: padding is linear too.
 */
export interface ConvStem {
  layer: FusedConv;
  /** [[top, bottom], [left, right]] zeros added before the conv, or null. */
  pad: [[number, number], [number, number]] | null;
  activation: FusedActivation;
  /** The rest of the model: logits from the stem's (activated) output, with the stem's own node skipped. */
  rest(y: tf.Tensor): tf.Tensor;
}

const stems = new WeakMap<tf.LayersModel, ConvStem | null>();

/**
 * The model's conv stem, or null when the model has none (a first layer that is not a FusedConv
 * conv with a ReLU or ReLU6, the image also feeding another layer, several inputs or outputs): then IG takes its plain
 * path. Found once per model and cached; the rest of the graph is run on the model's own layers
 * (no weights copied, no layer rewired).
 */
export function convStemOf(model: tf.LayersModel): ConvStem | null {
  if (stems.has(model)) return stems.get(model) ?? null;
  const stem = findConvStem(model);
  stems.set(model, stem);
  return stem;
}

function findConvStem(model: tf.LayersModel): ConvStem | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  const image = model.inputs[0] as tf.SymbolicTensor;
  const output = model.outputs[0] as tf.SymbolicTensor;
  const byDepth = (model as unknown as { nodesByDepth?: Record<string, GraphNode[]> }).nodesByDepth;
  if (!byDepth) return null;
  // Deepest first: the order tfjs' own Container.runInternalGraph runs the nodes in.
  const nodes = Object.keys(byDepth)
    .map(Number)
    .sort((a, b) => b - a)
    .flatMap((d) => byDepth[String(d)] ?? []);
  // The input layer's own node lists the image as its input too.
  const consumersOf = (t: tf.SymbolicTensor) =>
    nodes.filter((n) => n.outboundLayer !== image.sourceLayer && n.inputTensors.some((i) => i.id === t.id));
  const only = (t: tf.SymbolicTensor): GraphNode | null => {
    const c = consumersOf(t);
    const node = c.length === 1 ? (c[0] as GraphNode) : null;
    return node && node.inputTensors.length === 1 && node.outputTensors.length === 1 ? node : null;
  };
  let stemNode = only(image);
  let padNode: GraphNode | null = null;
  let pad: ConvStem["pad"] = null;
  if (stemNode && stemNode.outboundLayer.getClassName() === "ZeroPadding2D") {
    const cfg = stemNode.outboundLayer.getConfig() as Record<string, unknown>;
    pad = channelsLast(cfg) ? padOf(cfg) : null;
    if (!pad) return null;
    padNode = stemNode;
    stemNode = only(padNode.outputTensors[0] as tf.SymbolicTensor);
  }
  if (!stemNode) return null;
  const layer = stemNode.outboundLayer;
  if (!(layer instanceof FusedConv) || layer.kind !== "conv") return null;
  // Conv + batch norm + ReLU/ReLU6 stems only (MobileNetV2's, ResNet's). A linear one (ConvNeXt's
  // patchify conv, whose LayerNorm follows) would be just as affine in the path, but that model
  // keeps the plain path until the stem path has been checked on it.
  if (layer.activation !== "relu" && layer.activation !== "relu6") return null;
  const stemOut = stemNode.outputTensors[0] as tf.SymbolicTensor;
  const rest = nodes.filter((n) => n !== stemNode && n !== padNode && n.outboundLayer !== image.sourceLayer);
  // Every node left must be computable from the stem's output alone.
  const known = new Set([stemOut.id]);
  for (const n of rest) {
    if (!n.inputTensors.every((t) => known.has(t.id))) return null;
    for (const t of n.outputTensors) known.add(t.id);
  }
  if (!known.has(output.id)) return null;
  return {
    layer,
    pad,
    activation: layer.activation,
    rest: (y) => runFrom(rest, stemOut, y, output),
  };
}

/** Container.runInternalGraph from one intermediate tensor: each node's layer.call on its inputs. */
function runFrom(
  nodes: readonly GraphNode[],
  from: tf.SymbolicTensor,
  value: tf.Tensor,
  output: tf.SymbolicTensor,
): tf.Tensor {
  const computed = new Map<number, tf.Tensor>([[from.id, value]]);
  for (const node of nodes) {
    const ins = node.inputTensors.map((t) => computed.get(t.id) as tf.Tensor);
    const kwargs = { ...(node.callArgs ?? {}) };
    if (kwargs.mask == null) kwargs.mask = ins.length === 1 ? undefined : ins.map(() => undefined);
    const outs = node.outboundLayer.call(ins.length === 1 ? (ins[0] as tf.Tensor) : ins, kwargs);
    const list = Array.isArray(outs) ? outs : [outs];
    for (const [i, t] of node.outputTensors.entries()) computed.set(t.id, list[i] as tf.Tensor);
  }
  return computed.get(output.id) as tf.Tensor;
}

/**
 * The stem's activation on its pre-activation u, with FusedConv's own gradient: dy masked where
 * the output is strictly inside the activation's range (read off the output, as FusedConv does).
 */
export function stemActivation(activation: FusedActivation): (u: tf.Tensor) => tf.Tensor {
  if (activation === "linear") return (u) => u;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [u, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const y = activation === "relu6" ? tf.relu6(u) : tf.relu(u);
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        activationGrad(dy, saved[0] as tf.Tensor, activation),
      ],
    };
  }) as (u: tf.Tensor) => tf.Tensor;
}

/** The stem's pre-activation without its bias: the conv of the (padded) images. */
export function stemConv(stem: ConvStem, x: tf.Tensor4D): tf.Tensor4D {
  const { filter } = stem.layer.filterAndBias();
  const p = stem.pad;
  const padded = p ? tf.pad(x, [[0, 0], p[0], p[1], [0, 0]]) : x;
  return tf.conv2d(padded, filter, stem.layer.strides, stem.layer.padding);
}

/**
 * The input gradient of the stem: one Conv2DBackpropInput, as FusedConv's gradient runs it, and
 * the pad's gradient (the slice without the padding), as tf's runs it.
 */
export function stemInputGradient(stem: ConvStem, gradU: tf.Tensor, inputShape: number[]): tf.Tensor {
  const [b, h, w, c] = inputShape as [number, number, number, number];
  const p = stem.pad;
  const paddedShape = p ? [b, h + p[0][0] + p[0][1], w + p[1][0] + p[1][1], c] : inputShape;
  const dx = tf
    .engine()
    .runKernel("Conv2DBackpropInput", { dy: gradU, filter: stem.layer.filterAndBias().filter }, {
      strides: stem.layer.strides,
      pad: stem.layer.padding,
      dataFormat: "NHWC",
      dilations: [1, 1],
      dimRoundingMode: undefined,
      inputShape: paddedShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
  return p ? tf.slice(dx, [0, p[0][0], p[1][0], 0], [b, h, w, c]) : dx;
}
