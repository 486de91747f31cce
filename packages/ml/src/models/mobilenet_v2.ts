import type { Builder, ST } from "./blocks.js";
import { torchPad, type WeightsConvention } from "./conventions.js";

/** Channel rounding from the MobileNetV2 paper: nearest multiple of 8, never dropping >10%. */
export function makeDivisible(v: number, divisor = 8): number {
  let r = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

// [expansion, output channels, repeats, first stride] from the paper's Table 2.
const SETTINGS: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** Padding for a stride-2 3x3 'valid' conv so output size = ceil(in/2), as Keras applications do. */
function stride2Pad(size: number | null): [[number, number], [number, number]] {
  const odd = size != null && size % 2 === 1;
  return odd
    ? [
        [1, 1],
        [1, 1],
      ]
    : [
        [0, 1],
        [0, 1],
      ];
}

/**
 * Layer names follow keras.applications.MobileNetV2 (Conv1, bn_Conv1, block_N_expand,
 * block_N_depthwise_BN, ..., Conv_1, Conv_1_bn) so converted Keras ImageNet weights load by name.
 */
export function mobileNetV2Backbone(
  b: Builder,
  input: ST,
  alpha: number,
  convention?: WeightsConvention,
): ST {
  // torchvision/timm pad every stride-2 conv symmetrically and use BatchNorm eps 1e-5.
  const torch = convention === "torch";
  const eps = torch ? 1e-5 : 1e-3;
  let x = input;
  if (torch) x = b.pad(x, "Conv1_pad", torchPad(3));
  x = b.conv(x, "Conv1", {
    filters: makeDivisible(32 * alpha),
    kernel: 3,
    strides: 2,
    padding: torch ? "valid" : "same",
  });
  x = b.bn(x, "bn_Conv1", eps);
  x = b.relu(x, "Conv1_relu", 6);

  let blockId = 0;
  for (const [t, c, n, s] of SETTINGS) {
    for (let i = 0; i < n; i++) {
      x = invertedResidual(b, x, {
        expansion: t,
        filters: makeDivisible(c * alpha),
        stride: i === 0 ? s : 1,
        blockId,
        torch,
        eps,
      });
      blockId++;
    }
  }

  // Keras keeps 1280 for alpha <= 1 (the paper's choice: don't shrink the last layer).
  const last = alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
  x = b.conv(x, "Conv_1", { filters: last, kernel: 1 });
  x = b.bn(x, "Conv_1_bn", eps);
  return b.relu(x, "out_relu", 6);
}

function invertedResidual(
  b: Builder,
  input: ST,
  o: { expansion: number; filters: number; stride: number; blockId: number; torch: boolean; eps: number },
): ST {
  const inChannels = input.shape[input.shape.length - 1];
  if (inChannels == null) throw new Error("MobileNetV2: channel dimension must be known");
  const prefix = o.blockId === 0 ? "expanded_conv_" : `block_${o.blockId}_`;
  let x = input;
  if (o.blockId !== 0) {
    x = b.conv(x, `${prefix}expand`, { filters: o.expansion * inChannels, kernel: 1 });
    x = b.bn(x, `${prefix}expand_BN`, o.eps);
    x = b.relu(x, `${prefix}expand_relu`, 6);
  }
  if (o.stride === 2) x = b.pad(x, `${prefix}pad`, o.torch ? torchPad(3) : stride2Pad(x.shape[1] ?? null));
  x = b.depthwise(x, `${prefix}depthwise`, {
    kernel: 3,
    strides: o.stride,
    padding: o.stride === 1 ? "same" : "valid",
    // torchvision's MobileNetV2 init (kaiming_normal, fan_out = C*k*k for a depthwise weight
    // [C, 1, k, k]). Behind BatchNorm the scale does not change the forward pass, only how far
    // an Adam step moves the filter relative to its size: with the "true fan-in" std sqrt(2/9)
    // a from-scratch run took ~3x more epochs before it left the class prior (measured).
    init: { std: Math.sqrt(2 / (3 * 3 * (x.shape[x.shape.length - 1] ?? 1))) },
  });
  x = b.bn(x, `${prefix}depthwise_BN`, o.eps);
  x = b.relu(x, `${prefix}depthwise_relu`, 6);
  // Linear bottleneck: no activation after the projection (the paper's point about ReLU destroying
  // information in low-dimensional spaces); Glorot-like scale would suit it too, but He keeps
  // residual sums from shrinking when training from scratch.
  x = b.conv(x, `${prefix}project`, { filters: o.filters, kernel: 1 });
  x = b.bn(x, `${prefix}project_BN`, o.eps);
  if (inChannels === o.filters && o.stride === 1) x = b.add([input, x], `${prefix}add`);
  return x;
}
