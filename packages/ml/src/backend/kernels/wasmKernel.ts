/**
 * What every wasm kernel in this folder shares: the parts of the wasm backend they use, the one
 * helper that turns a kernel body into a tfjs KernelConfig (input unpacking, attribute typing,
 * backend access), heap views, calls of the backend's own kernels, and the shipped kernels our
 * replacements fall back to.
 *
 * The kernels combine the backend's XNNPACK-backed Conv2D / DepthwiseConv2dNative / BatchMatMul,
 * JS loops for layout changes and small scatter work, and hand-assembled wasm SIMD loops
 * (simdDot.ts) running on the backend's own heap. Which path runs depends on the shape (thresholds
 * in each file, set from measurements on this machine); every path is tested against the cpu
 * backend. Measured (`pnpm bench kernels`), the shipped wasm BatchMatMul falls to a scalar path
 * whenever transposeA/transposeB is set (~13x slower) and the wasm Transpose/StridedSlice kernels
 * are slower than a JS copy loop, so layout changes are done in JS and matmuls are always fed
 * un-transposed operands.
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { simdKernelsFor, type WasmMemory } from "../simdDot.js";
import { wasmKernelOptions } from "./options.js";

export const WASM = "wasm";

/** The parts of BackendWasm these kernels rely on. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm?: { asm?: { memory?: WasmMemory } };
}

export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** What a kernel body receives. */
export interface WasmKernelCall<I extends string, A> {
  /** The inputs named when the kernel was defined, each checked to be present. */
  inputs: Record<I, TensorInfo>;
  attrs: A;
  backend: WasmBackendLike;
  /** The call as tfjs made it, to hand on unchanged to the shipped kernel (callShipped). */
  args: KernelArgs;
}

/**
 * A kernel for backend "wasm": unpacks the named inputs (a missing one is an error naming the
 * kernel and the input) and types the attributes and the backend for `body`.
 */
export function wasmKernel<I extends string, A = Record<string, unknown>>(
  kernelName: string,
  inputNames: readonly I[],
  body: (call: WasmKernelCall<I, A>) => TensorInfo | TensorInfo[],
): tf.KernelConfig {
  return {
    kernelName,
    backendName: WASM,
    kernelFunc: (args) => {
      const inputs = {} as Record<I, TensorInfo>;
      for (const name of inputNames) {
        const t = args.inputs[name];
        if (!t) throw new Error(`${kernelName}: missing input ${name}`);
        inputs[name] = t;
      }
      return body({
        inputs,
        attrs: args.attrs as unknown as A,
        backend: args.backend as unknown as WasmBackendLike,
        args,
      });
    },
  };
}

/** The SIMD loops for this backend's heap, or null (no wasm SIMD, or switched off in the options). */
export function simdFor(backend: WasmBackendLike) {
  return wasmKernelOptions.simd
    ? simdKernelsFor(backend.wasm?.asm?.memory, { fma: wasmKernelOptions.fma })
    : null;
}

export function heapOffset(backend: WasmBackendLike, t: TensorInfo): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d) throw new Error("tensor is not on the wasm backend");
  return d.memoryOffset;
}

/**
 * Heap views go stale when the wasm memory grows (any allocation may grow
 * it), so views are taken only after the last allocation of a step.
 */
export function f32(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  const a = backend.typedArrayFromHeap(t);
  if (!(a instanceof Float32Array)) throw new Error("expected a float32 tensor");
  return a;
}

export function free(backend: WasmBackendLike, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

// --- the wasm backend's own kernels, called directly -------------------------
// Calling the kernel functions directly (not through the engine) keeps the
// intermediates off the engine's tape and tensor count; each is freed with
// disposeData as soon as it has been consumed.

function registeredWasmKernel(name: string): tf.KernelFunc {
  const k = tf.getKernel(name, WASM);
  if (!k) throw new Error(`wasm kernel ${name} is not registered (is @tensorflow/tfjs-backend-wasm loaded?)`);
  return k.kernelFunc;
}

export function run(
  name: string,
  backend: WasmBackendLike,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
): TensorInfo {
  const out = registeredWasmKernel(name)({
    inputs,
    backend: backend as unknown as tf.KernelBackend,
    attrs: attrs as tf.NamedAttrMap,
  });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${name} returned several outputs`);
  return out;
}

// --- shipped kernels kept as fallbacks ------------------------------------------

/** The wasm package's own kernels that ours replaced, by kernel name (filled by installKernels). */
export const shippedWasmKernels = new Map<string, tf.KernelConfig>();
const shippedSetUp = new WeakMap<object, Set<string>>();

/** Runs the shipped kernel our replacement stands in for, on the same call. */
export function callShipped(name: string, args: KernelArgs): ReturnType<tf.KernelFunc> {
  const k = shippedWasmKernels.get(name);
  if (!k) throw new Error(`no shipped wasm kernel ${name} to fall back to`);
  // Its setup (binding the C function) only ran if it was registered when
  // the backend initialised; running it again just re-binds.
  let done = shippedSetUp.get(args.backend);
  if (!done) {
    done = new Set();
    shippedSetUp.set(args.backend, done);
  }
  if (!done.has(name)) {
    k.setupFunc?.(args.backend);
    done.add(name);
  }
  return k.kernelFunc(args);
}
