/**
 * The switches of the wasm kernels, in one object. Production never changes them: they exist so
 * that tests can exercise the paths other runtimes take (no wasm SIMD) and compare cached with
 * uncached runs, and so that a benchmark can move a threshold. Read on every kernel call, so a
 * change applies to the next call.
 */
export interface WasmKernelOptions {
  /**
   * Run the hand-assembled wasm SIMD loops (simdDot.ts) where the runtime supports them. `false`
   * takes the fallback paths used on runtimes without wasm SIMD. Default true.
   */
  simd: boolean;
  /**
   * Let packedGemm fuse its multiply-adds (wasm relaxed SIMD's relaxed_madd, vfmadd on x64) where
   * the runtime supports it (simdDot.ts); `false` runs the mul + add module everywhere. Only the
   * KxK convolution paths of many channels use packedGemm, none of MobileNetV2's. Default true.
   */
  fma: boolean;
  /**
   * Keep the rearranged filters of input gradients per source filter (filterCache.ts). Changing it
   * frees everything cached. Default true.
   */
  filterCache: boolean;
  /**
   * From how many input channels a 1x1 input gradient runs as one convolution with the transposed
   * filter instead of col2im's GEMM + JS scatter (conv2dBackpropInput.ts). Default 8.
   */
  pointwiseConvMinCi: number;
  /**
   * Up to how many patch rows (Kh*Kw*Ci) a KxK filter gradient runs as im2col + one GEMM instead of
   * the convolution trick (conv2dBackpropFilter.ts). Default 64.
   */
  filterIm2colMaxRows: number;
  /**
   * Run FusedBatchNorm four channels at a time (batchNorm.ts), bit for bit the shipped scalar
   * kernel's values; `false` runs the shipped kernel for every call (tests compare the two).
   * Default true.
   */
  batchNorm: boolean;
  /**
   * Up to how many output pixels per image a many-channel KxK FusedConv2D, and the convolution of a
   * stride-1 input gradient, run as packedGemm per filter tap and output position instead of
   * XNNPACK (fusedConv2d.ts); 0 sends every call to XNNPACK. Default 64 (ResNet-18's layer2-4 at
   * 64 px).
   */
  forwardGemmMaxMap: number;
  /**
   * Run 1x1 stride-1 FusedConv2D as simdDot's rowGemm (XNNPACK's values bit for bit, faster:
   * fusedConv2d.ts); `false` sends them to XNNPACK (parity tests, benchmarks). Default true.
   */
  pointwiseForwardGemm: boolean;
  /**
   * Run the explanation's 1x1 input gradients (XnnPointwiseInputGrad: activation mask, then
   * dy x W^T) on rowGemm (XNNPACK's values bit for bit, faster: pointwiseInputGrad.ts); `false`
   * runs the mask and XNNPACK's transposed convolution (parity tests, benchmarks). Default true.
   */
  pointwiseInputGradGemm: boolean;
}

export const DEFAULT_WASM_KERNEL_OPTIONS: Readonly<WasmKernelOptions> = Object.freeze({
  simd: true,
  fma: true,
  filterCache: true,
  pointwiseConvMinCi: 8,
  filterIm2colMaxRows: 64,
  batchNorm: true,
  forwardGemmMaxMap: 64,
  pointwiseForwardGemm: true,
  pointwiseInputGradGemm: true,
});

/** The live options; only setWasmKernelOptions (index of this folder) writes them. */
export const wasmKernelOptions: WasmKernelOptions = { ...DEFAULT_WASM_KERNEL_OPTIONS };
