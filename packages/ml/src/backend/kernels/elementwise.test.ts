import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { rng, useWasmWithCpuReference } from "./testing/parity.js";

beforeAll(useWasmWithCpuReference);

describe("ReLU6-gradient elementwise kernels on wasm vs cpu", () => {
  const binShapes: Array<[number[], number[]]> = [
    [
      [2, 3, 4],
      [2, 3, 4],
    ],
    [[2, 3, 4], []],
    [[], [5, 2]],
    [
      [4, 5],
      [1, 1],
    ],
    [
      [2, 1],
      [1, 3],
    ],
  ];
  for (const kernel of ["GreaterEqual", "LessEqual", "LogicalAnd", "Select"] as const) {
    for (const [i, [sa, sb]] of binShapes.entries()) {
      for (const dtype of kernel === "LogicalAnd" ? (["bool"] as const) : (["float32", "int32"] as const)) {
        if (kernel === "Select" && i > 0) continue;
        it(`${kernel} ${dtype} [${sa}] vs [${sb}]`, async () => {
          const r = rng(700 + i);
          // few distinct values so that equality (the >= / <= boundary) occurs
          const gen = (shape: number[]) =>
            Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () =>
              dtype === "bool" ? Number(r() > 0) : Math.round(r() * 4),
            );
          const va = gen(sa);
          const vb = gen(sb);
          const vc = gen(sa).map((v) => Number(v > 0));
          const exec = () => {
            const a = tf.tensor(va, sa, dtype);
            const b = tf.tensor(vb, sb, dtype);
            const cond = tf.tensor(vc, sa, "bool");
            const out = (
              kernel === "Select"
                ? tf.engine().runKernel(kernel, { condition: cond, t: a, e: b })
                : tf.engine().runKernel(kernel, { a, b })
            ) as tf.Tensor;
            tf.dispose([a, b, cond]);
            return out;
          };
          await tf.setBackend("cpu");
          const ref = exec();
          const refVals = Array.from(await ref.data());
          const refMeta = [ref.shape, ref.dtype];
          ref.dispose();
          await tf.setBackend("wasm");
          const dataBefore = tf.engine().backend.numDataIds();
          const got = exec();
          expect([got.shape, got.dtype]).toEqual(refMeta);
          expect(Array.from(await got.data())).toEqual(refVals);
          got.dispose();
          expect(tf.engine().backend.numDataIds()).toBe(dataBefore);
        });
      }
    }
  }
});
