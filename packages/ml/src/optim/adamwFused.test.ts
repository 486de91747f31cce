import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { initBackend, setWasmKernelOptions } from "../backend/index.js";
import { ADAMW_KERNEL } from "../backend/kernels/adamw.js";
import { AdamW, type AdamWOptions } from "./adamw.js";

/** AdamW op by op, as optim/adamw.ts ran it before the fused kernel: decay, then tf.AdamOptimizer. */
class OpByOpAdamW extends tf.AdamOptimizer {
  constructor(private readonly o: Required<Omit<AdamWOptions, "decay">> & { decay: (n: string) => boolean }) {
    super(o.learningRate, o.beta1, o.beta2, o.epsilon);
  }
  override applyGradients(grads: Parameters<AdamW["applyGradients"]>[0]): void {
    const factor = 1 - this.learningRate * this.o.weightDecay;
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads as Record<string, tf.Tensor | null>)) {
        if (g == null || !this.o.decay(name)) continue;
        const v = tf.engine().registeredVariables[name] as tf.Variable;
        v.assign(tf.mul(v, factor));
      }
    });
    super.applyGradients(grads as Parameters<tf.AdamOptimizer["applyGradients"]>[0]);
  }
}

// Sizes that cover the SIMD body (multiples of 4) and the JS tail (the rest).
const SHAPES: number[][] = [[3, 3, 8, 16], [7], [5, 3], [1], [64]];
const OPTS = { learningRate: 3e-3, weightDecay: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
// The bias-like variables (rank 1) are not decayed, as a decay filter would exclude them.
const decay = (name: string) => !name.includes("rank1");

function makeVariables(tag: string): tf.Variable[] {
  return SHAPES.map((s, i) =>
    tf.variable(
      tf.randomNormal(s, 0, 1, "float32", 100 + i),
      true,
      `${tag}_${s.length === 1 ? "rank1" : "w"}_${i}`,
    ),
  );
}

function gradsFor(vars: tf.Variable[], step: number): tf.NamedTensorMap {
  // Gradients spanning many magnitudes (and an exact zero), fresh per step, the same for both runs
  // (seeded; tfjs takes seed 0 for no seed).
  const out: tf.NamedTensorMap = {};
  vars.forEach((v, i) => {
    const g = tf.tidy(() =>
      tf.mul(tf.randomNormal(v.shape, 0, 1, "float32", 1000 * step + i + 1), 10 ** ((i % 5) - 2)),
    );
    out[v.name] = i === 3 && step === 2 ? tf.zerosLike(v) : g;
    if (i === 3 && step === 2) g.dispose();
  });
  return out;
}

/** Steps both optimizers over the same gradients, with a learning-rate change midway. */
function stepBoth(fused: AdamW, ref: OpByOpAdamW, steps: number) {
  const a = makeVariables(`fused${Math.random()}`);
  const b = makeVariables(`ref${Math.random()}`);
  for (let t = 0; t < steps; t++) {
    if (t === 4) {
      fused.lr = 1e-3;
      (ref as unknown as { learningRate: number }).learningRate = 1e-3;
    }
    const ga = gradsFor(a, t);
    const gb = gradsFor(b, t);
    // One variable gets no gradient on step 1 (tfjs keeps moments by position, so the entry stays,
    // null): neither decayed nor stepped on either side.
    if (t === 1) {
      tf.dispose([ga[a[0]!.name]!, gb[b[0]!.name]!]);
      (ga as Record<string, tf.Tensor | null>)[a[0]!.name] = null;
      (gb as Record<string, tf.Tensor | null>)[b[0]!.name] = null;
    }
    fused.applyGradients(ga);
    ref.applyGradients(gb);
    tf.dispose([...Object.values(ga), ...Object.values(gb)].filter((x): x is tf.Tensor => x != null));
  }
  return { a, b };
}

function bits(t: tf.Tensor): Uint32Array {
  return new Uint32Array(new Float32Array(t.dataSync()).buffer);
}

beforeAll(async () => {
  await initBackend("wasm");
});

afterEach(() => {
  setWasmKernelOptions({ simd: true });
});

describe("AdamW's fused step on wasm (one kernel per variable)", () => {
  it("is installed on wasm, so the optimizer takes it", () => {
    expect(tf.getBackend()).toBe("wasm");
    expect(tf.getKernel(ADAMW_KERNEL, "wasm")).toBeDefined();
  });

  for (const simd of [true, false]) {
    it(`gives the op-by-op step's values bit for bit over 8 steps, moments included (${simd ? "SIMD body + JS tail" : "JS loop only"})`, async () => {
      setWasmKernelOptions({ simd });
      const fused = new AdamW({ ...OPTS, decay });
      const ref = new OpByOpAdamW({ ...OPTS, decay });
      const { a, b } = stepBoth(fused, ref, 8);
      let compared = 0;
      a.forEach((v, i) => {
        expect(Array.from(bits(v)), v.name).toEqual(Array.from(bits(b[i]!)));
        compared += v.size;
      });
      // And the moments (what the resume state saves), in tf.AdamOptimizer's order.
      const wa = await fused.getWeights();
      const wb = await ref.getWeights();
      expect(wa.map((w) => w.name.replace(/^fused[0-9.]+/, ""))).toEqual(
        wb.map((w) => w.name.replace(/^ref[0-9.]+/, "")),
      );
      for (const [i, w] of wa.entries())
        expect(Array.from(bits(w.tensor)), w.name).toEqual(Array.from(bits(wb[i]!.tensor)));
      expect(compared).toBeGreaterThan(1000);
      // Not vacuous: the variables moved.
      expect(
        Math.abs(a[4]!.dataSync()[0]! - tf.randomNormal([64], 0, 1, "float32", 104).dataSync()[0]!),
      ).toBeGreaterThan(1e-4);
      tf.dispose([...a, ...b]);
      fused.dispose();
      ref.dispose();
    });
  }

  it("continues bit for bit after its moments are saved and restored into a new optimizer (resume)", async () => {
    const fused = new AdamW({ ...OPTS, decay });
    const ref = new OpByOpAdamW({ ...OPTS, decay });
    const { a, b } = stepBoth(fused, ref, 3);
    const saved = await fused.getWeights();
    const resumed = new AdamW({ ...OPTS, decay });
    await resumed.setWeights(saved.map((w) => ({ name: w.name, tensor: w.tensor.clone() })));
    for (let t = 3; t < 6; t++) {
      const ga = gradsFor(a, t);
      const gb = gradsFor(b, t);
      resumed.applyGradients(ga);
      ref.applyGradients(gb);
      tf.dispose([...Object.values(ga), ...Object.values(gb)]);
    }
    for (const [i, v] of a.entries()) expect(Array.from(bits(v)), v.name).toEqual(Array.from(bits(b[i]!)));
    tf.dispose([...a, ...b]);
  });

  it("refuses operands of different shapes, naming the kernel", () => {
    const p = tf.zeros([4]);
    const m = tf.zeros([5]);
    expect(() => tf.engine().runKernel(ADAMW_KERNEL, { p, m, v: p, g: p }, {})).toThrow(
      /XnnAdamWStep.*\[5\]/,
    );
    tf.dispose([p, m]);
  });
});
