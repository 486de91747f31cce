import type { Builder, ST } from "./blocks.js";
import { torchPad, type WeightsConvention } from "./conventions.js";

/**
 * Names follow keras.applications.ResNet50 (conv1_conv, conv1_bn, conv2_block1_0_conv for the
 * projection shortcut, conv2_block1_1_conv ..., conv2_block1_add, conv2_block1_out) so its
 * converted ImageNet weights load by name. ResNet-18 has no Keras application; it uses the same
 * scheme (two 3x3 convs per block: _1_ and _2_).
 */
function stem(b: Builder, input: ST, useBias: boolean, eps: number): ST {
  let x = b.pad(input, "conv1_pad", [
    [3, 3],
    [3, 3],
  ]);
  x = b.conv(x, "conv1_conv", { filters: 64, kernel: 7, strides: 2, padding: "valid", useBias });
  x = b.bn(x, "conv1_bn", eps);
  x = b.relu(x, "conv1_relu");
  x = b.pad(x, "pool1_pad", [
    [1, 1],
    [1, 1],
  ]);
  return b.maxPool(x, "pool1_pool", 3, 2);
}

// Keras ResNet's epsilon, kept so converted moving statistics mean the same thing.
const KERAS_EPS = 1.001e-5;
const TORCH_EPS = 1e-5;

function basicBlock(b: Builder, input: ST, filters: number, stride: number, name: string, eps: number): ST {
  const inChannels = input.shape[input.shape.length - 1];
  let shortcut = input;
  if (stride !== 1 || inChannels !== filters) {
    shortcut = b.conv(input, `${name}_0_conv`, { filters, kernel: 1, strides: stride });
    shortcut = b.bn(shortcut, `${name}_0_bn`, eps);
  }
  let x = input;
  if (stride !== 1) {
    // Symmetric padding like torchvision's padding=1, so ported PyTorch weights see the same pixels.
    x = b.pad(x, `${name}_1_pad`, [
      [1, 1],
      [1, 1],
    ]);
    x = b.conv(x, `${name}_1_conv`, { filters, kernel: 3, strides: stride, padding: "valid" });
  } else {
    x = b.conv(x, `${name}_1_conv`, { filters, kernel: 3 });
  }
  x = b.bn(x, `${name}_1_bn`, eps);
  x = b.relu(x, `${name}_1_relu`);
  x = b.conv(x, `${name}_2_conv`, { filters, kernel: 3 });
  x = b.bn(x, `${name}_2_bn`, eps);
  x = b.add([shortcut, x], `${name}_add`);
  return b.relu(x, `${name}_out`);
}

function bottleneckBlock(
  b: Builder,
  input: ST,
  filters: number,
  stride: number,
  projection: boolean,
  name: string,
  torch: boolean,
): ST {
  // Keras ResNet50 (v1): stride on the first 1x1 conv, biases on every conv. torchvision/timm
  // ResNet-50 ("v1.5"): stride on the 3x3 conv (padded symmetrically), no conv biases.
  const useBias = !torch;
  const EPS = torch ? TORCH_EPS : KERAS_EPS;
  let shortcut = input;
  if (projection) {
    shortcut = b.conv(input, `${name}_0_conv`, {
      filters: 4 * filters,
      kernel: 1,
      strides: stride,
      useBias,
    });
    shortcut = b.bn(shortcut, `${name}_0_bn`, EPS);
  }
  let x = b.conv(input, `${name}_1_conv`, { filters, kernel: 1, strides: torch ? 1 : stride, useBias });
  x = b.bn(x, `${name}_1_bn`, EPS);
  x = b.relu(x, `${name}_1_relu`);
  if (torch && stride !== 1) {
    x = b.pad(x, `${name}_2_pad`, torchPad(3));
    x = b.conv(x, `${name}_2_conv`, { filters, kernel: 3, strides: stride, padding: "valid", useBias });
  } else {
    x = b.conv(x, `${name}_2_conv`, { filters, kernel: 3, useBias });
  }
  x = b.bn(x, `${name}_2_bn`, EPS);
  x = b.relu(x, `${name}_2_relu`);
  x = b.conv(x, `${name}_3_conv`, { filters: 4 * filters, kernel: 1, useBias });
  x = b.bn(x, `${name}_3_bn`, EPS);
  x = b.add([shortcut, x], `${name}_add`);
  return b.relu(x, `${name}_out`);
}

/** ResNet-18 is torchvision-style either way (no Keras original); "torch" only switches eps to 1e-5. */
export function resnet18Backbone(b: Builder, input: ST, convention?: WeightsConvention): ST {
  if (convention === "keras")
    throw new Error(
      "resnet18: there is no Keras ResNet-18; its weights come from torchvision or timm (convention 'torch')",
    );
  const eps = convention === "torch" ? TORCH_EPS : KERAS_EPS;
  let x = stem(b, input, false, eps);
  const stages: Array<[number, number]> = [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ];
  stages.forEach(([filters, stride], i) => {
    x = basicBlock(b, x, filters, stride, `conv${i + 2}_block1`, eps);
    x = basicBlock(b, x, filters, 1, `conv${i + 2}_block2`, eps);
  });
  return x;
}

export function resnet50Backbone(b: Builder, input: ST, convention?: WeightsConvention): ST {
  const torch = convention === "torch";
  let x = stem(b, input, !torch, torch ? TORCH_EPS : KERAS_EPS);
  const stages: Array<[number, number, number]> = [
    [64, 3, 1],
    [128, 4, 2],
    [256, 6, 2],
    [512, 3, 2],
  ];
  stages.forEach(([filters, blocks, stride], i) => {
    for (let j = 0; j < blocks; j++) {
      x = bottleneckBlock(b, x, filters, j === 0 ? stride : 1, j === 0, `conv${i + 2}_block${j + 1}`, torch);
    }
  });
  return x;
}
