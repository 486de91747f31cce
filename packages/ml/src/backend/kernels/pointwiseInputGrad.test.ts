import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { clearWasmFilterCache } from "./filterCache.js";
import { POINTWISE_INPUT_GRAD_KERNEL } from "./pointwiseInputGrad.js";
import { setWasmKernelOptions } from "./setWasmKernelOptions.js";
import { randArr, relErr, rng, rowGemmCalls, TOL, useWasmWithCpuReference } from "./testing/parity.js";

const BELOW_SIX = 6 - 2 ** -21;

interface PwCase {
  N: number;
  H: number;
  W: number;
  Ci: number;
  Co: number;
  hi: number | null;
}

// Pixel counts that are and are not a multiple of 4 (the GEMM's 1-row tail), Ci/4 odd and even
// (rowGemm's 4-wide tail column group), relu, relu6 and no activation.
const cases: PwCase[] = [
  { N: 2, H: 4, W: 4, Ci: 16, Co: 8, hi: BELOW_SIX },
  { N: 1, H: 7, W: 7, Ci: 20, Co: 12, hi: BELOW_SIX },
  { N: 3, H: 5, W: 3, Ci: 12, Co: 40, hi: Number.POSITIVE_INFINITY },
  { N: 1, H: 3, W: 3, Ci: 96, Co: 24, hi: null },
  { N: 2, H: 7, W: 7, Ci: 160, Co: 96, hi: BELOW_SIX },
];

/** What FusedConv's gradient runs without the kernel: the activation mask, then the input gradient. */
function reference(dy: tf.Tensor4D, y: tf.Tensor4D, filter: tf.Tensor4D, hi: number | null): tf.Tensor {
  return tf.tidy(() => {
    const g =
      hi === null ? dy : tf.mul(dy, tf.cast(tf.logicalAnd(tf.greater(y, 0), tf.lessEqual(y, hi)), "float32"));
    return tf.conv2dTranspose(
      g as tf.Tensor4D,
      filter,
      [y.shape[0], y.shape[1], y.shape[2], filter.shape[2]],
      1,
      "valid",
    );
  });
}

function inputs(c: PwCase, seed: number) {
  const r = rng(seed);
  const dy = tf.tensor4d(randArr(c.N * c.H * c.W * c.Co, r), [c.N, c.H, c.W, c.Co]);
  // activations around and beyond both ends of relu6 (negatives, exactly 0, inside, exactly 6, above 6)
  const yv = randArr(c.N * c.H * c.W * c.Co, r).map((v, i) => (i % 11 === 0 ? 6 : i % 7 === 0 ? 0 : v * 8));
  const y = tf.tensor4d(yv, [c.N, c.H, c.W, c.Co]);
  const filter = tf.tensor4d(randArr(c.Ci * c.Co, r), [1, 1, c.Ci, c.Co]);
  return { dy, y, filter };
}

function runKernel(c: PwCase, dy: tf.Tensor, y: tf.Tensor, filter: tf.Tensor): tf.Tensor {
  const ins: tf.NamedTensorMap = c.hi === null ? { dy, filter } : { dy, filter, y };
  return tf.engine().runKernel(POINTWISE_INPUT_GRAD_KERNEL, ins, {
    inputShape: [c.N, c.H, c.W, c.Ci],
    hi: c.hi,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

describe("XnnPointwiseInputGrad (1x1 input gradient with the activation mask) on wasm", () => {
  beforeAll(async () => {
    await useWasmWithCpuReference();
  });
  afterEach(() => {
    setWasmKernelOptions({ simd: true, pointwiseInputGradGemm: true });
    clearWasmFilterCache();
  });

  for (const c of cases) {
    const name = `N${c.N} ${c.H}x${c.W} ${c.Co}->${c.Ci} hi=${c.hi}`;
    for (const path of ["gemm", "xnnpack"] as const) {
      it(`${name}: the ${path} path equals mask + conv2dTranspose on cpu`, async () => {
        const { dy, y, filter } = inputs(c, c.Ci * 7 + c.Co);
        await tf.setBackend("cpu");
        const want = await reference(dy as tf.Tensor4D, y as tf.Tensor4D, filter as tf.Tensor4D, c.hi).data();
        await tf.setBackend("wasm");
        setWasmKernelOptions({ pointwiseInputGradGemm: path === "gemm" });
        // twice: the second call takes the packed filter from the cache
        for (let k = 0; k < 2; k++) {
          const got = runKernel(c, dy, y, filter);
          expect(got.shape).toEqual([c.N, c.H, c.W, c.Ci]);
          expect(relErr(await got.data(), want)).toBeLessThan(TOL);
          got.dispose();
        }
        tf.dispose([dy, y, filter]);
      });
    }
  }

  for (const c of cases) {
    it(`N${c.N} ${c.H}x${c.W} ${c.Co}->${c.Ci} hi=${c.hi}: the GEMM path gives the XNNPACK path's values bit for bit`, async () => {
      const { dy, y, filter } = inputs(c, c.Ci * 5 + c.Co);
      const outs = (["gemm", "xnnpack"] as const).map((p) => {
        setWasmKernelOptions({ pointwiseInputGradGemm: p === "gemm" });
        return runKernel(c, dy, y, filter);
      });
      const [a, b] = await Promise.all(outs.map((t) => t.data()));
      expect(a).toEqual(b);
      tf.dispose([dy, y, filter, ...outs]);
    });
  }

  it("the GEMM and XNNPACK paths agree where the mask sees NaN activations", async () => {
    const c = cases[1] as PwCase;
    const { dy, y, filter } = inputs(c, 3);
    const yNan = tf.tensor4d(
      (await y.data()).map((v, i) => (i % 13 === 0 ? Number.NaN : v)),
      y.shape as [number, number, number, number],
    );
    const outs = (["gemm", "xnnpack"] as const).map((p) => {
      setWasmKernelOptions({ pointwiseInputGradGemm: p === "gemm" });
      return runKernel(c, dy, yNan, filter);
    });
    const [a, b] = await Promise.all(outs.map((t) => t.data()));
    expect(Array.from(a as Float32Array).some(Number.isNaN)).toBe(true);
    expect(Array.from(a as Float32Array).map(Number.isNaN)).toEqual(
      Array.from(b as Float32Array).map(Number.isNaN),
    );
    tf.dispose([dy, y, yNan, filter, ...outs]);
  });

  it("pointwiseInputGradGemm picks the path: rowGemm when true, none of its calls when false", async () => {
    const c = cases[1] as PwCase;
    const { dy, y, filter } = inputs(c, 11);
    const counted = (gemm: boolean) =>
      rowGemmCalls(() => {
        setWasmKernelOptions({ pointwiseInputGradGemm: gemm });
        runKernel(c, dy, y, filter).dispose();
      });
    expect(await counted(true)).toBeGreaterThan(0);
    expect(await counted(false)).toBe(0);
    tf.dispose([dy, y, filter]);
  });

  it("without wasm SIMD the GEMM setting falls back to the XNNPACK path", async () => {
    const c = cases[0] as PwCase;
    const { dy, y, filter } = inputs(c, 5);
    setWasmKernelOptions({ pointwiseInputGradGemm: false });
    const want = await runKernel(c, dy, y, filter).data();
    setWasmKernelOptions({ simd: false, pointwiseInputGradGemm: true });
    const got = runKernel(c, dy, y, filter);
    expect(relErr(await got.data(), want)).toBeLessThan(TOL);
    tf.dispose([dy, y, filter, got]);
  });

  it("rejects a filter that is not 1x1", () => {
    const dy = tf.zeros([1, 3, 3, 4]);
    const filter = tf.zeros([3, 3, 4, 4]);
    expect(() =>
      tf.engine().runKernel(POINTWISE_INPUT_GRAD_KERNEL, { dy, filter }, {
        inputShape: [1, 3, 3, 4],
        hi: null,
      } as unknown as tf.NamedAttrMap),
    ).toThrow(/1x1/);
    tf.dispose([dy, filter]);
  });
});
