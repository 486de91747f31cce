import * as tf from "@tensorflow/tfjs";
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
 */
export interface ConvStem {
  layer: FusedConv;
  activation: FusedActivation;
  strides: [number, number];
  padding: "same" | "valid";
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
  const consumers = nodes.filter(
    (n) => n.outboundLayer !== image.sourceLayer && n.inputTensors.some((t) => t.id === image.id),
  );
  const stemNode = consumers.length === 1 ? consumers[0] : undefined;
  if (!stemNode) return null;
  const layer = stemNode.outboundLayer;
  if (!(layer instanceof FusedConv) || layer.kind !== "conv") return null;
  // Conv + batch norm + ReLU/ReLU6 stems only (MobileNetV2's; ResNet's once its pad is folded). A
  // linear one (ConvNeXt's patchify conv, whose LayerNorm follows) would be just as affine in the
  // path, but that model keeps the plain path until the stem path has been checked on it.
  if (layer.activation !== "relu" && layer.activation !== "relu6") return null;
  if (stemNode.inputTensors.length !== 1 || stemNode.outputTensors.length !== 1) return null;
  const stemOut = stemNode.outputTensors[0] as tf.SymbolicTensor;
  const rest = nodes.filter((n) => n !== stemNode && n.outboundLayer !== image.sourceLayer);
  // Every node left must be computable from the stem's output alone.
  const known = new Set([stemOut.id]);
  for (const n of rest) {
    if (!n.inputTensors.every((t) => known.has(t.id))) return null;
    for (const t of n.outputTensors) known.add(t.id);
  }
  if (!known.has(output.id)) return null;
  return {
    layer,
    activation: layer.activation,
    strides: layer.strides,
    padding: layer.padding,
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

/** The input gradient of the stem's convolution: one Conv2DBackpropInput, as FusedConv's gradient runs it. */
export function stemInputGradient(stem: ConvStem, gradU: tf.Tensor, inputShape: number[]): tf.Tensor {
  return tf
    .engine()
    .runKernel("Conv2DBackpropInput", { dy: gradU, filter: stem.layer.filterAndBias().filter }, {
      strides: stem.strides,
      pad: stem.padding,
      dataFormat: "NHWC",
      dilations: [1, 1],
      dimRoundingMode: undefined,
      inputShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
}
