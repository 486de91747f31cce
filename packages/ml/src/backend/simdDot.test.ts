import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "./initBackend.js";
import { channelDotFor, type WasmMemory } from "./simdDot.js";

interface WasmInternals {
  wasm: { asm: { memory: WasmMemory } };
  dataIdMap: { get(id: object): { memoryOffset: number } };
}

beforeAll(async () => {
  await initBackend("wasm");
});

describe("channelDot (wasm SIMD on the tfjs heap)", () => {
  it("compiles against the wasm backend's memory (else the slow JS fallback would be used silently)", () => {
    const b = tf.findBackend("wasm") as unknown as WasmInternals;
    expect(channelDotFor(b.wasm.asm.memory)).not.toBeNull();
  });

  it("matches a float64 reference for strided rows and every group tail", () => {
    const b = tf.findBackend("wasm") as unknown as WasmInternals;
    const dot = channelDotFor(b.wasm.asm.memory);
    if (!dot) throw new Error("SIMD kernel unavailable");
    for (const groups of [1, 3, 4, 5, 9]) {
      const C = groups * 4 + 3; // padding channels the kernel must not touch
      const nPix = 13;
      const xStride = 2 * C; // like stride-2 columns
      const xv = Float32Array.from({ length: nPix * xStride }, (_, i) => Math.sin(i * 0.37));
      const dv = Float32Array.from({ length: nPix * C }, (_, i) => Math.cos(i * 0.11));
      const x = tf.tensor1d(xv);
      const d = tf.tensor1d(dv);
      const out = tf.fill([C], 7);
      const off = (t: tf.Tensor) => b.dataIdMap.get(t.dataId).memoryOffset;
      dot(off(x), off(d), off(out), nPix, groups, xStride * 4, C * 4);
      const got = out.dataSync();
      for (let c = 0; c < C; c++) {
        let ref = 0;
        for (let i = 0; i < nPix; i++) ref += (xv[i * xStride + c] as number) * (dv[i * C + c] as number);
        if (c < groups * 4) expect(Math.abs((got[c] as number) - ref)).toBeLessThan(1e-5);
        else expect(got[c]).toBe(7);
      }
      tf.dispose([x, d, out]);
    }
  });
});
