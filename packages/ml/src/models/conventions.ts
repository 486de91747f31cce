/**
 * Where a backbone's published weights were trained decides details of the graph that change the
 * function it computes: how a stride-2 conv pads, BatchNorm's epsilon, and (ResNet-50) where the
 * bottleneck's stride sits. A graph built for imported weights follows the weights' source, so it
 * computes what the source model computed.
 *
 * - "keras": keras.applications (TF 'same' padding: a stride-2 conv on an even input pads
 *   0 before / 1 after; BatchNorm eps 1e-3 for MobileNetV2, 1.001e-5 for ResNet; ResNet-50 v1 with
 *   the stride on the first 1x1 conv and biases on every conv).
 * - "torch": torchvision and timm (padding k//2 on both sides; BatchNorm eps 1e-5; ResNet-50
 *   "v1.5" with the stride on the 3x3 conv and no conv biases).
 *
 * Absent, each arch keeps the graph it always had (MobileNetV2 and ResNet-50 Keras-style;
 * ResNet-18 symmetric padding with eps 1.001e-5; ConvNeXt V2, whose graph is the same either way).
 */
export type WeightsConvention = "keras" | "torch";
export const WEIGHTS_CONVENTIONS: readonly WeightsConvention[] = ["keras", "torch"];

/** Symmetric padding PyTorch applies for a k x k conv (padding=k//2). */
export function torchPad(kernel: number): [[number, number], [number, number]] {
  const p = Math.floor(kernel / 2);
  return [
    [p, p],
    [p, p],
  ];
}
