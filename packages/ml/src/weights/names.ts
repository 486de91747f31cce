import type { ModelName as Arch } from "@xnn/shared";

/**
 * How a source tensor is laid out relative to ours:
 * - conv: PyTorch [out, in, kh, kw] -> tfjs kernel [kh, kw, in, out]
 * - depthwise: PyTorch [C, 1, kh, kw] -> tfjs depthwise_kernel [kh, kw, C, 1]
 * - linear: PyTorch [out, in] (or a 1x1 conv's [out, in, 1, 1]) -> tfjs Dense kernel [in, out]
 * - vector: any shape holding C values -> [C] (norm parameters, biases, GRN's [1, 1, 1, C])
 * - same: already in tfjs layout (Keras H5)
 */
export type Layout = "conv" | "depthwise" | "linear" | "vector" | "same";

/** Where one source tensor goes: our layer, its weight, and the layout change on the way. */
export interface Target {
  layer: string;
  weight: string;
  layout: Layout;
}

/** A target, "ignore" for tensors that carry nothing a forward pass uses, or null if unknown. */
export type MapResult = Target | "ignore" | null;

export interface Naming {
  /** "torchvision", "timm", "convnextv2-official", "keras" */
  name: string;
  map(key: string): MapResult;
}

/** Our layer for the source classifier: with headUnits [] the model's only head layer. */
export const CLASSIFIER_LAYER = "head_logits";

const BN: Record<string, string> = {
  weight: "gamma",
  bias: "beta",
  running_mean: "moving_mean",
  running_var: "moving_variance",
};

/** PyTorch BatchNorm parameters of module `prefix` -> our BN layer; num_batches_tracked only counts training steps. */
function bn(param: string, layer: string): MapResult {
  if (param === "num_batches_tracked") return "ignore";
  const weight = BN[param];
  return weight ? { layer, weight, layout: "vector" } : null;
}

function conv(param: string, layer: string, layout: Layout = "conv"): MapResult {
  if (param === "weight")
    return { layer, weight: layout === "depthwise" ? "depthwise_kernel" : "kernel", layout };
  if (param === "bias") return { layer, weight: "bias", layout: "vector" };
  return null;
}

function ln(param: string, layer: string): MapResult {
  if (param === "weight") return { layer, weight: "gamma", layout: "vector" };
  if (param === "bias") return { layer, weight: "beta", layout: "vector" };
  return null;
}

/** Splits "a.b.c.weight" into module path "a.b.c" and parameter "weight". */
function split(key: string): [string, string] {
  const i = key.lastIndexOf(".");
  return i < 0 ? ["", key] : [key.slice(0, i), key.slice(i + 1)];
}

// torchvision and timm name ResNets identically (conv1, bn1, layer{i}.{j}.conv{k}, downsample, fc).
const torchResNet: Naming = {
  name: "torchvision/timm",
  map(key) {
    const [mod, p] = split(key);
    if (mod === "conv1") return conv(p, "conv1_conv");
    if (mod === "bn1") return bn(p, "conv1_bn");
    if (mod === "fc") return conv(p, CLASSIFIER_LAYER, "linear");
    const m = /^layer(\d)\.(\d+)\.(conv(\d)|bn(\d)|downsample\.(0|1))$/.exec(mod);
    if (!m) return null;
    const block = `conv${Number(m[1]) + 1}_block${Number(m[2]) + 1}`;
    if (m[4]) return conv(p, `${block}_${m[4]}_conv`);
    if (m[5]) return bn(p, `${block}_${m[5]}_bn`);
    return m[6] === "0" ? conv(p, `${block}_0_conv`) : bn(p, `${block}_0_bn`);
  },
};

/** Our Keras-style MobileNetV2 block prefix for block number `id` (0-based over the whole net). */
function mbPrefix(id: number): string {
  return id === 0 ? "expanded_conv_" : `block_${id}_`;
}

const torchvisionMobileNetV2: Naming = {
  name: "torchvision",
  map(key) {
    const [mod, p] = split(key);
    if (mod === "features.0.0") return conv(p, "Conv1");
    if (mod === "features.0.1") return bn(p, "bn_Conv1");
    if (mod === "features.18.0") return conv(p, "Conv_1");
    if (mod === "features.18.1") return bn(p, "Conv_1_bn");
    if (mod === "classifier.1") return conv(p, CLASSIFIER_LAYER, "linear");
    const m = /^features\.(\d+)\.conv\.(\d)(?:\.(\d))?$/.exec(mod);
    if (!m) return null;
    const id = Number(m[1]) - 1;
    if (id < 0 || id > 16) return null;
    const pre = mbPrefix(id);
    const part = m[3] === undefined ? m[2] : `${m[2]}.${m[3]}`;
    // Block 0 (expansion 1) has no expand conv: conv.0 = depthwise ConvBNReLU, conv.1 = project, conv.2 = BN.
    const parts: Record<string, () => MapResult> =
      id === 0
        ? {
            "0.0": () => conv(p, `${pre}depthwise`, "depthwise"),
            "0.1": () => bn(p, `${pre}depthwise_BN`),
            "1": () => conv(p, `${pre}project`),
            "2": () => bn(p, `${pre}project_BN`),
          }
        : {
            "0.0": () => conv(p, `${pre}expand`),
            "0.1": () => bn(p, `${pre}expand_BN`),
            "1.0": () => conv(p, `${pre}depthwise`, "depthwise"),
            "1.1": () => bn(p, `${pre}depthwise_BN`),
            "2": () => conv(p, `${pre}project`),
            "3": () => bn(p, `${pre}project_BN`),
          };
    return parts[part as string]?.() ?? null;
  },
};

// timm's mobilenetv2_100 (EfficientNet builder): 7 stages with these repeats; blocks.0.0 is a
// DepthwiseSeparableConv (conv_dw, bn1, conv_pw, bn2), the rest InvertedResidual
// (conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3).
const TIMM_MB_REPEATS = [1, 2, 3, 4, 3, 3, 1];
const timmMobileNetV2: Naming = {
  name: "timm",
  map(key) {
    const [mod, p] = split(key);
    if (mod === "conv_stem") return conv(p, "Conv1");
    if (mod === "bn1") return bn(p, "bn_Conv1");
    if (mod === "conv_head") return conv(p, "Conv_1");
    if (mod === "bn2") return bn(p, "Conv_1_bn");
    if (mod === "classifier") return conv(p, CLASSIFIER_LAYER, "linear");
    const m = /^blocks\.(\d)\.(\d+)\.(\w+)$/.exec(mod);
    if (!m) return null;
    const stage = Number(m[1]);
    const j = Number(m[2]);
    if (stage >= TIMM_MB_REPEATS.length || j >= (TIMM_MB_REPEATS[stage] as number)) return null;
    const id = TIMM_MB_REPEATS.slice(0, stage).reduce((a, b) => a + b, 0) + j;
    const pre = mbPrefix(id);
    const parts: Record<string, () => MapResult> =
      id === 0
        ? {
            conv_dw: () => conv(p, `${pre}depthwise`, "depthwise"),
            bn1: () => bn(p, `${pre}depthwise_BN`),
            conv_pw: () => conv(p, `${pre}project`),
            bn2: () => bn(p, `${pre}project_BN`),
          }
        : {
            conv_pw: () => conv(p, `${pre}expand`),
            bn1: () => bn(p, `${pre}expand_BN`),
            conv_dw: () => conv(p, `${pre}depthwise`, "depthwise"),
            bn2: () => bn(p, `${pre}depthwise_BN`),
            conv_pwl: () => conv(p, `${pre}project`),
            bn3: () => bn(p, `${pre}project_BN`),
          };
    return parts[m[3] as string]?.() ?? null;
  },
};

function convNeXtBlock(part: string, p: string, block: string): MapResult {
  switch (part) {
    case "conv_dw":
    case "dwconv":
      return conv(p, `${block}_dwconv`, "depthwise");
    case "norm":
      return ln(p, `${block}_norm`);
    case "mlp.fc1":
    case "pwconv1":
      return conv(p, `${block}_pwconv1`, "linear");
    case "mlp.fc2":
    case "pwconv2":
      return conv(p, `${block}_pwconv2`, "linear");
    // timm's GlobalResponseNorm has weight/bias [C]; the official code gamma/beta [1, 1, 1, C].
    case "mlp.grn":
    case "grn":
      if (p === "weight" || p === "gamma")
        return { layer: `${block}_grn`, weight: "gamma", layout: "vector" };
      if (p === "bias" || p === "beta") return { layer: `${block}_grn`, weight: "beta", layout: "vector" };
      return null;
    default:
      return null;
  }
}

const timmConvNeXtV2: Naming = {
  name: "timm",
  map(key) {
    const [mod, p] = split(key);
    if (mod === "stem.0") return conv(p, "stem_conv");
    if (mod === "stem.1") return ln(p, "stem_norm");
    if (mod === "head.norm") return ln(p, "final_norm");
    if (mod === "head.fc") return conv(p, CLASSIFIER_LAYER, "linear");
    let m = /^stages\.(\d)\.downsample\.(0|1)$/.exec(mod);
    if (m)
      return m[2] === "0" ? ln(p, `stage${m[1]}_downsample_norm`) : conv(p, `stage${m[1]}_downsample_conv`);
    m = /^stages\.(\d)\.blocks\.(\d+)\.(.+)$/.exec(mod);
    return m ? convNeXtBlock(m[3] as string, p, `stage${m[1]}_block${m[2]}`) : null;
  },
};

// facebookresearch/ConvNeXt-V2 (the paper's code and its FCMAE/fine-tuned checkpoints).
const officialConvNeXtV2: Naming = {
  name: "convnextv2-official",
  map(key) {
    const [mod, p] = split(key);
    if (mod === "downsample_layers.0.0") return conv(p, "stem_conv");
    if (mod === "downsample_layers.0.1") return ln(p, "stem_norm");
    if (mod === "norm") return ln(p, "final_norm");
    if (mod === "head") return conv(p, CLASSIFIER_LAYER, "linear");
    let m = /^downsample_layers\.([123])\.(0|1)$/.exec(mod);
    if (m)
      return m[2] === "0" ? ln(p, `stage${m[1]}_downsample_norm`) : conv(p, `stage${m[1]}_downsample_conv`);
    m = /^stages\.(\d)\.(\d+)\.(.+)$/.exec(mod);
    return m ? convNeXtBlock(m[3] as string, p, `stage${m[1]}_block${m[2]}`) : null;
  },
};

/** The PyTorch naming a state dict for `arch` uses, told apart by a tensor only that naming has. */
export function torchNaming(arch: Arch, keys: readonly string[]): Naming {
  const has = (k: string) => keys.includes(k);
  switch (arch) {
    case "resnet18":
    case "resnet50":
      return torchResNet;
    case "mobilenet_v2":
      return has("conv_stem.weight") ? timmMobileNetV2 : torchvisionMobileNetV2;
    case "convnext_v2_atto":
    case "convnext_v2_tiny":
      return has("downsample_layers.0.0.weight") ? officialConvNeXtV2 : timmConvNeXtV2;
  }
}

/** A guess at what a state dict holds, for an error message when it does not fit `--arch`. */
export function guessTorchArch(
  keys: readonly string[],
  shapeOf: (k: string) => number[] | undefined,
): string | null {
  const has = (k: string) => keys.includes(k);
  if (has("layer1.0.conv3.weight")) return "resnet50";
  if (has("layer1.0.conv1.weight")) return "resnet18";
  if (has("features.18.0.weight") || has("conv_stem.weight")) return "mobilenet_v2";
  const stem = shapeOf("stem.0.weight") ?? shapeOf("downsample_layers.0.0.weight");
  if (stem) return stem[0] === 40 ? "convnext_v2_atto" : stem[0] === 96 ? "convnext_v2_tiny" : "a ConvNeXt";
  return null;
}
