import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { AdamW } from "./adamw.js";

interface Fixture {
  torch: string;
  config: { beta1: number; beta2: number; eps: number; weightDecay: number };
  kernel0: number[][];
  bias0: number[];
  steps: { lr: number; kernelGrad: number[][]; biasGrad: number[] }[];
  trajectory: { kernel: number[][]; bias: number[] }[];
}
const fx = JSON.parse(
  readFileSync(new URL("./fixtures/torch_adamw.json", import.meta.url), "utf8"),
) as Fixture;

/** The AdamW rule written out in float64: decay first, then Adam with bias correction. */
function handRule(
  p0: number[],
  grads: number[][],
  lrs: number[],
  wd: number,
  b1 = 0.9,
  b2 = 0.999,
  eps = 1e-8,
): number[][] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out: number[][] = [];
  grads.forEach((g, t) => {
    const lr = lrs[t] as number;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] as number;
      p[i] = (p[i] as number) * (1 - lr * wd);
      m[i] = b1 * (m[i] as number) + (1 - b1) * gi;
      v[i] = b2 * (v[i] as number) + (1 - b2) * gi * gi;
      const mh = (m[i] as number) / (1 - b1 ** (t + 1));
      const vh = (v[i] as number) / (1 - b2 ** (t + 1));
      p[i] = (p[i] as number) - (lr * mh) / (Math.sqrt(vh) + eps);
    }
    out.push([...p]);
  });
  return out;
}

function run(opt: AdamW, stepsToRun = fx.steps): { kernel: number[][]; bias: number[] }[] {
  const kernel = tf.variable(tf.tensor2d(fx.kernel0), true, `adamw_k_${Math.random()}`);
  const bias = tf.variable(tf.tensor1d(fx.bias0), true, `adamw_b_${Math.random()}`);
  const traj: { kernel: number[][]; bias: number[] }[] = [];
  for (const st of stepsToRun) {
    opt.lr = st.lr;
    const gk = tf.tensor2d(st.kernelGrad);
    const gb = tf.tensor1d(st.biasGrad);
    opt.applyGradients({ [kernel.name]: gk, [bias.name]: gb });
    tf.dispose([gk, gb]);
    traj.push({ kernel: kernel.arraySync() as number[][], bias: bias.arraySync() as number[] });
  }
  kernel.dispose();
  bias.dispose();
  return traj;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("AdamW", () => {
  const { beta1, beta2, eps, weightDecay } = fx.config;
  const make = () => new AdamW({ learningRate: 1e-2, weightDecay, beta1, beta2, epsilon: eps });

  it("follows the decoupled-decay rule computed by hand (decay before the Adam step)", () => {
    const opt = make();
    const traj = run(opt);
    const p0 = [...fx.kernel0.flat(), ...fx.bias0];
    const grads = fx.steps.map((s) => [...s.kernelGrad.flat(), ...s.biasGrad]);
    const expected = handRule(
      p0,
      grads,
      fx.steps.map((s) => s.lr),
      weightDecay,
    );
    traj.forEach((t, i) => {
      const got = [...t.kernel.flat(), ...t.bias];
      got.forEach((g, j) => {
        expect(Math.abs(g - (expected[i]?.[j] as number))).toBeLessThan(2e-6);
      });
    });
    // Decay applied after the step instead would differ by lr*wd*step ~ 1e-5 per step: the check above can tell.
    opt.dispose();
  });

  it(`matches torch.optim.AdamW (torch ${fx.torch}) including a runtime lr change`, () => {
    const opt = make();
    const traj = run(opt);
    traj.forEach((t, i) => {
      const want = fx.trajectory[i];
      if (!want) throw new Error("fixture too short");
      t.kernel.flat().forEach((g, j) => {
        expect(Math.abs(g - (want.kernel.flat()[j] as number))).toBeLessThan(2e-6);
      });
      t.bias.forEach((g, j) => {
        expect(Math.abs(g - (want.bias[j] as number))).toBeLessThan(2e-6);
      });
    });
    opt.dispose();
  });

  it("resumes from getWeights/setWeights with the same trajectory", async () => {
    const a = make();
    const kernel = tf.variable(tf.tensor2d(fx.kernel0), true, "resume_k");
    const step = (opt: AdamW, s: Fixture["steps"][number]) => {
      opt.lr = s.lr;
      const g = tf.tensor2d(s.kernelGrad);
      opt.applyGradients({ resume_k: g });
      g.dispose();
    };
    fx.steps.slice(0, 3).forEach((s) => {
      step(a, s);
    });
    const saved = await a.getWeights();
    const snapshot = saved.map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
    const b = make();
    await b.setWeights(snapshot);
    const kernelAt3 = kernel.arraySync();
    fx.steps.slice(3).forEach((s) => {
      step(a, s);
    });
    const continued = kernel.arraySync();
    kernel.assign(tf.tensor2d(kernelAt3 as number[][]));
    fx.steps.slice(3).forEach((s) => {
      step(b, s);
    });
    expect(kernel.arraySync()).toEqual(continued);
    tf.dispose([kernel, ...saved.map((w) => w.tensor)]);
    a.dispose();
    b.dispose();
  });

  it("skips decay for variables the filter excludes and is registered for serialization", () => {
    const opt = new AdamW({ learningRate: 0.1, weightDecay: 0.5, decay: (n) => !n.endsWith("bias") });
    const k = tf.variable(tf.scalar(1), true, "filt_kernel");
    const b = tf.variable(tf.scalar(1), true, "filt_bias");
    // With a zero gradient Adam's step is 0, so only decay moves a parameter.
    opt.applyGradients({ filt_kernel: tf.scalar(0), filt_bias: tf.scalar(0) });
    expect(k.dataSync()[0]).toBeCloseTo(0.95, 6);
    expect(b.dataSync()[0]).toBe(1);
    const cfg = opt.getConfig();
    expect(cfg.weightDecay).toBe(0.5);
    const registered = tf.serialization.SerializationMap.getMap().classNameMap.XnnAdamW;
    expect(registered).toBeDefined();
    expect(() => {
      opt.lr = -1;
    }).toThrow(/learning rate/);
    tf.dispose([k, b]);
    opt.dispose();
  });
});
