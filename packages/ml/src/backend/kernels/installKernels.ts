/**
 * The one place that changes tfjs' kernel and gradient registries. initBackend calls
 * installKernels for the backend it settled on; nothing else registers anything, so which kernel
 * runs does not depend on which module happened to be imported or called first.
 *
 * What is installed:
 * - every backend: the FusedBatchNorm, Mean and Tile gradients (batchNormGrad.ts, meanGrad.ts,
 *   tile.ts). Gradients are process-wide in tfjs; these give the same values as tfjs-core's (Tile's
 *   up to rounding).
 * - wasm: the kernels the wasm package lacks or runs slowly (conv and depthwise gradients, Tile,
 *   Sum, Mean, one AdamW step per variable (adamw.ts), the ReLU6-gradient elementwise ops, Identity, FusedBatchNorm: that one behind a switch that
 *   is off by default, options.ts), keeping each replaced shipped kernel
 *   as the fallback for the cases ours leave to it; and the fused ReLU / clip gradient kernels with
 *   the Relu, Relu6 and ClipByValue gradients that use them (activationGrads.ts).
 * - cpu, tensorflow: nothing beyond the gradients; their own kernels are complete.
 *
 * One scoped override lives elsewhere on purpose: withInputGradientsOnly (explain/) swaps two
 * weight-gradient kernels for zeros, and BatchMatMul for an untransposing wrapper, for the
 * duration of one synchronous input-gradient computation and restores them, through swapKernel.
 * Installed globally it would zero every training step's weight gradients.
 */
import * as tf from "@tensorflow/tfjs";
// The wasm package registers its own kernels when it is evaluated; importing it here guarantees
// that has happened before installKernels replaces some of them (and keeps them as fallbacks).
import "@tensorflow/tfjs-backend-wasm";
import { clipGradConfig, fusedActivationGradConfigs, reluGradConfig } from "./activationGrads.js";
import { adamwStepConfig } from "./adamw.js";
import { fusedBatchNormConfig } from "./batchNorm.js";
import { batchNormGradConfig } from "./batchNormGrad.js";
import { conv2DBackpropFilterConfig } from "./conv2dBackpropFilter.js";
import { conv2DBackpropInputConfig } from "./conv2dBackpropInput.js";
import { depthwiseBackpropFilterConfig } from "./depthwiseBackpropFilter.js";
import { depthwiseBackpropInputConfig } from "./depthwiseBackpropInput.js";
import { greaterEqualConfig, lessEqualConfig, logicalAndConfig, selectConfig } from "./elementwise.js";
import { fusedConv2DConfig } from "./fusedConv2d.js";
import { identityConfig } from "./identity.js";
import { meanGradConfig } from "./meanGrad.js";
import { pointwiseInputGradConfig } from "./pointwiseInputGrad.js";
import { meanConfig, sumConfig } from "./reductions.js";
import { tileConfig, tileGradConfig } from "./tile.js";
import { shippedWasmKernels, WASM } from "./wasmKernel.js";

/** Every kernel installed for backend "wasm". */
export const wasmKernelConfigs: readonly tf.KernelConfig[] = [
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  tileConfig,
  sumConfig,
  meanConfig,
  greaterEqualConfig,
  lessEqualConfig,
  logicalAndConfig,
  selectConfig,
  identityConfig,
  reluGradConfig,
  clipGradConfig,
  fusedBatchNormConfig,
  adamwStepConfig,
  pointwiseInputGradConfig,
  fusedConv2DConfig,
];

/**
 * Registers `cfg` in place of whatever is registered under its kernel and backend name and
 * returns what it replaced. Unregistering first keeps tfjs from warning about the replacement.
 */
export function swapKernel(cfg: tf.KernelConfig): tf.KernelConfig | undefined {
  const existing = tf.getKernel(cfg.kernelName, cfg.backendName);
  if (existing) tf.unregisterKernel(cfg.kernelName, cfg.backendName);
  tf.registerKernel(cfg);
  return existing;
}

const installedFor = new Set<string>();
/** The gradients installKernels registered, to tell ours from tfjs' (kernelOwners). */
const ourGradients = new Map<string, tf.GradConfig["gradFunc"]>();

function installGradient(cfg: tf.GradConfig): void {
  tf.registerGradient(cfg);
  ourGradients.set(cfg.kernelName, cfg.gradFunc);
}

/**
 * Registers every kernel and gradient of this package that applies to `backendName` (see the top
 * of this file). Idempotent; called by initBackend, which every entry point goes through.
 */
export function installKernels(backendName: string): void {
  if (installedFor.has(backendName)) return;
  if (installedFor.size === 0) {
    installGradient(batchNormGradConfig);
    installGradient(meanGradConfig);
    installGradient(tileGradConfig);
  }
  if (backendName === WASM) {
    for (const cfg of wasmKernelConfigs) {
      const replaced = swapKernel(cfg);
      if (replaced) shippedWasmKernels.set(cfg.kernelName, replaced);
    }
    for (const cfg of fusedActivationGradConfigs((name) => tf.getGradient(name))) installGradient(cfg);
  }
  installedFor.add(backendName);
}

/** Whether installKernels has run for this backend in this process. */
export function kernelsInstalledFor(backendName: string): boolean {
  return installedFor.has(backendName);
}

/**
 * Throws unless the kernels and gradients of the active backend are installed, naming the caller
 * and the remedy: without them training and explanation would run tfjs' slower (or, on wasm,
 * missing) kernels instead of failing.
 */
export function assertKernelsInstalled(caller: string): void {
  const name = tf.getBackend();
  if (!installedFor.has(name)) {
    throw new Error(
      `${caller}: the kernels and gradients for backend "${name}" are not installed; select the backend with initBackend() first, not tf.setBackend()`,
    );
  }
}

/**
 * For every kernel (as "Name/backend") and gradient (as "grad:Name") this package can install:
 * "xnn" when ours is registered now, "tfjs" when another one is, "none" when nothing is. Lets a
 * test see that the registry depends on installKernels alone.
 */
export function kernelOwners(backendName: string): Record<string, "xnn" | "tfjs" | "none"> {
  const out: Record<string, "xnn" | "tfjs" | "none"> = {};
  const kernels = backendName === WASM ? wasmKernelConfigs : [];
  for (const cfg of kernels) {
    const k = tf.getKernel(cfg.kernelName, backendName);
    out[`${cfg.kernelName}/${backendName}`] = !k ? "none" : k.kernelFunc === cfg.kernelFunc ? "xnn" : "tfjs";
  }
  const gradients = [
    tf.FusedBatchNorm,
    tf.Mean,
    tf.Tile,
    ...(backendName === WASM ? ["Relu", "Relu6", "ClipByValue"] : []),
  ];
  for (const name of gradients) {
    const g = tf.getGradient(name);
    out[`grad:${name}`] = !g ? "none" : g.gradFunc === ourGradients.get(name) ? "xnn" : "tfjs";
  }
  return out;
}
