/**
 * The elementwise kernels on the ReLU6 gradient path, for the wasm backend.
 *
 * clipByValue's gradient (every ReLU6 in MobileNetV2) is
 * select(logicalAnd(x >= 0, x <= 6), dy, 0). The shipped wasm kernels for
 * these four ops go through a generic broadcasting loop at ~25 ns per
 * element, which made them ~25% of a profiled training step. Plain JS loops
 * cover the equal-shape and scalar-operand cases; anything else (real
 * broadcasting) goes to the shipped kernels.
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { callShipped, wasmKernel } from "./wasmKernel.js";

type Operands = { mode: "same" | "aScalar" | "bScalar"; shape: number[] } | null;

function simpleOperands(a: TensorInfo, b: TensorInfo): Operands {
  const sizeA = tf.util.sizeFromShape(a.shape);
  const sizeB = tf.util.sizeFromShape(b.shape);
  if (tf.util.arraysEqual(a.shape, b.shape)) return { mode: "same", shape: a.shape };
  if (sizeA !== 1 && sizeB !== 1) return null;
  const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  const size = tf.util.sizeFromShape(shape);
  if (sizeB === 1 && size === sizeA) return { mode: "bScalar", shape };
  if (sizeA === 1 && size === sizeB) return { mode: "aScalar", shape };
  return null;
}

type Numeric = Float32Array | Int32Array | Uint8Array;

function compareConfig(name: "GreaterEqual" | "LessEqual"): tf.KernelConfig {
  const ge = name === "GreaterEqual";
  return wasmKernel<"a" | "b">(name, ["a", "b"], ({ inputs: { a, b }, backend, args }) => {
    const ops = simpleOperands(a, b);
    if (!ops || a.dtype !== b.dtype || (a.dtype !== "float32" && a.dtype !== "int32")) {
      return callShipped(name, args);
    }
    const out = backend.makeOutput(ops.shape, "bool");
    const o = backend.typedArrayFromHeap(out) as Uint8Array;
    const av = backend.typedArrayFromHeap(a) as Numeric;
    const bv = backend.typedArrayFromHeap(b) as Numeric;
    const n = o.length;
    if (ops.mode === "same") {
      if (ge) for (let i = 0; i < n; i++) o[i] = (av[i] as number) >= (bv[i] as number) ? 1 : 0;
      else for (let i = 0; i < n; i++) o[i] = (av[i] as number) <= (bv[i] as number) ? 1 : 0;
    } else if (ops.mode === "bScalar") {
      const t = bv[0] as number;
      if (ge) for (let i = 0; i < n; i++) o[i] = (av[i] as number) >= t ? 1 : 0;
      else for (let i = 0; i < n; i++) o[i] = (av[i] as number) <= t ? 1 : 0;
    } else {
      const t = av[0] as number;
      if (ge) for (let i = 0; i < n; i++) o[i] = t >= (bv[i] as number) ? 1 : 0;
      else for (let i = 0; i < n; i++) o[i] = t <= (bv[i] as number) ? 1 : 0;
    }
    return out;
  });
}

export const greaterEqualConfig = compareConfig("GreaterEqual");
export const lessEqualConfig = compareConfig("LessEqual");

export const logicalAndConfig = wasmKernel<"a" | "b">(
  "LogicalAnd",
  ["a", "b"],
  ({ inputs: { a, b }, backend, args }) => {
    const ops = simpleOperands(a, b);
    if (!ops || a.dtype !== "bool" || b.dtype !== "bool") return callShipped("LogicalAnd", args);
    const out = backend.makeOutput(ops.shape, "bool");
    const o = backend.typedArrayFromHeap(out) as Uint8Array;
    const av = backend.typedArrayFromHeap(a) as Uint8Array;
    const bv = backend.typedArrayFromHeap(b) as Uint8Array;
    const n = o.length;
    if (ops.mode === "same") for (let i = 0; i < n; i++) o[i] = (av[i] as number) & (bv[i] as number);
    else if (ops.mode === "bScalar") o.set(bv[0] ? av.subarray(0, n) : new Uint8Array(n));
    else o.set(av[0] ? bv.subarray(0, n) : new Uint8Array(n));
    return out;
  },
);

export const selectConfig = wasmKernel<"condition" | "t" | "e">(
  "Select",
  ["condition", "t", "e"],
  ({ inputs: { condition: c, t, e }, backend, args }) => {
    const simple =
      c.dtype === "bool" &&
      t.dtype === e.dtype &&
      (t.dtype === "float32" || t.dtype === "int32") &&
      tf.util.arraysEqual(c.shape, t.shape) &&
      tf.util.arraysEqual(t.shape, e.shape);
    if (!simple) return callShipped("Select", args);
    const out = backend.makeOutput(t.shape, t.dtype);
    const o = backend.typedArrayFromHeap(out) as Numeric;
    const cv = backend.typedArrayFromHeap(c) as Uint8Array;
    const tv = backend.typedArrayFromHeap(t) as Numeric;
    const ev = backend.typedArrayFromHeap(e) as Numeric;
    const n = o.length;
    for (let i = 0; i < n; i++) o[i] = cv[i] ? (tv[i] as number) : (ev[i] as number);
    return out;
  },
);
