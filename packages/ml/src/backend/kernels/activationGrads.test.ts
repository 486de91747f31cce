import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { setWasmKernelOptions } from "./setWasmKernelOptions.js";
import { relErr, rng, TOL, useWasmWithCpuReference } from "./testing/parity.js";

afterEach(() => {
  setWasmKernelOptions({ simd: true });
});

beforeAll(useWasmWithCpuReference);

describe("Relu / Relu6 / ClipByValue gradients on wasm equal cpu's value for value", () => {
  // kinks (0, 6), signed zeros, NaN, infinities, sizes with and without a < 16 tail
  const special = [0, -0, 6, -6, 1e-30, -1e-30, 5.999999, 6.000001, Number.NaN, Number.POSITIVE_INFINITY, -1];
  const dySpecial = [1, -1, 2, -0.5, 0, -0, Number.NaN, 3, 1, -1, Number.POSITIVE_INFINITY];
  for (const n of [11, 48, 16 * 7 + 5]) {
    for (const simd of [true, false]) {
      for (const op of ["relu", "relu6", "clip"] as const) {
        it(`${op} n=${n}${simd ? "" : " [no-simd fallback]"}`, async () => {
          setWasmKernelOptions({ simd });
          const r = rng(900 + n);
          const xv = Array.from(
            { length: n },
            (_, i) => (i < special.length ? special[i] : r() * 16) as number,
          );
          const dv = Array.from(
            { length: n },
            (_, i) => (i < dySpecial.length ? dySpecial[i] : r() * 4) as number,
          );
          const f = (x: tf.Tensor) =>
            op === "relu" ? tf.relu(x) : op === "relu6" ? tf.relu6(x) : tf.clipByValue(x, -0.5, 6);
          const exec = async () => {
            const x = tf.tensor(xv, [n]);
            const dy = tf.tensor(dv, [n]);
            const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => f(t))([x], dy);
            const out = {
              value: Array.from(await value.data()),
              dx: Array.from(await (grads[0] as tf.Tensor).data()),
            };
            tf.dispose([x, dy, value, ...grads]);
            return out;
          };
          await tf.setBackend("cpu");
          const ref = await exec();
          await tf.setBackend("wasm");
          const dataBefore = tf.engine().backend.numDataIds();
          const got = await exec();
          expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
          // toEqual tells +0 from -0 and matches NaN with NaN
          expect(got.dx).toEqual(ref.dx);
          // (the forward kernels are the shipped ones; they differ from cpu on NaN only)
          const finite = (v: number[]) => v.filter((_, i) => !Number.isNaN(xv[i]));
          expect(finite(got.value)).toEqual(finite(ref.value));
        });
      }
    }
  }

  // (tfjs-core's own Relu6 and ClipByValue gradients have no second derivative: LessEqual and
  // LogicalAnd have no gradient)
  it("second-order gradients through relu still work", async () => {
    const xv = [-1.5, -0.2, 0.3, 2, 5.5, 7];
    const run = async () => {
      const x = tf.tensor(xv);
      const g2 = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.relu(u), tf.mul(u, u))))(t)),
      )(x);
      const out = Array.from(await g2.data());
      tf.dispose([x, g2]);
      return out;
    };
    await tf.setBackend("cpu");
    const ref = await run();
    await tf.setBackend("wasm");
    const got = await run();
    expect(relErr(got, ref)).toBeLessThan(TOL);
  });
});
