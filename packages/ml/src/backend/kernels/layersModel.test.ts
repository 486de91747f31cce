/**
 * End to end: the gradients of a small tf.layers conv net (conv, depthwise, batch norm, ReLU6,
 * dense) on wasm, with every installed kernel and gradient, match the cpu backend's.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { randArr, relErr, rng, TOL, useWasmWithCpuReference } from "./testing/parity.js";

beforeAll(useWasmWithCpuReference);

function buildNet(): tf.LayersModel {
  // Same seeds on every call so cpu and wasm start from identical weights.
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      inputShape: [11, 11, 3],
      filters: 6,
      kernelSize: 3,
      strides: 2,
      padding: "same",
      // A bias straight before batch norm has an exactly-zero true gradient,
      // so comparing its rounding noise would be meaningless: MobileNet-style, no bias.
      useBias: false,
      kernelInitializer: init(1),
    }),
  );
  m.add(tf.layers.batchNormalization({}));
  m.add(tf.layers.reLU({ maxValue: 6 }));
  m.add(
    tf.layers.depthwiseConv2d({
      kernelSize: 3,
      padding: "same",
      depthwiseInitializer: init(2),
      useBias: false,
    }),
  );
  m.add(tf.layers.batchNormalization({}));
  m.add(tf.layers.reLU({ maxValue: 6 }));
  m.add(
    tf.layers.conv2d({
      filters: 8,
      kernelSize: 1,
      activation: "relu",
      kernelInitializer: init(3),
      useBias: true,
    }),
  );
  m.add(
    tf.layers.depthwiseConv2d({ kernelSize: 5, strides: 2, padding: "valid", depthwiseInitializer: init(4) }),
  );
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: init(5) }));
  return m;
}

describe("tf.layers conv net gradients on wasm match cpu", () => {
  const r = rng(2024);
  const xData = randArr(4 * 11 * 11 * 3, r);
  const yData = new Float32Array(4 * 3);
  for (let i = 0; i < 4; i++) yData[i * 3 + (i % 3)] = 1;

  async function gradsOn(backendName: string) {
    await tf.setBackend(backendName);
    const model = buildNet();
    const x = tf.tensor4d(xData, [4, 11, 11, 3]);
    const y = tf.tensor2d(yData, [4, 3]);
    const lossOf = (input: tf.Tensor) =>
      tf.losses.softmaxCrossEntropy(y, model.apply(input, { training: true }) as tf.Tensor) as tf.Scalar;
    const { grads } = tf.variableGrads(() => lossOf(x));
    // layer names carry a global counter, so pair gradients with weights by build order
    const weights: Float32Array[] = [];
    for (const w of model.trainableWeights) {
      const g = grads[w.name];
      if (!g) throw new Error(`no gradient for ${w.name}`);
      weights.push((await g.data()) as Float32Array);
    }
    const dx = tf.grad((inp: tf.Tensor) => lossOf(inp))(x);
    const dxData = (await dx.data()) as Float32Array;
    tf.dispose([x, y, dx, ...Object.values(grads)]);
    model.dispose();
    return { weights, dx: dxData };
  }

  it("gradient w.r.t. weights and w.r.t. input", async () => {
    await tf.setBackend("cpu");
    const beforeCpu = tf.memory().numTensors;
    const ref = await gradsOn("cpu");
    const leakCpu = tf.memory().numTensors - beforeCpu;
    await tf.setBackend("wasm");
    const before = tf.memory().numTensors;
    const got = await gradsOn("wasm");
    // tf.layers itself keeps a tensor or so alive per model build (seen on cpu
    // too); the wasm path must not add to that.
    expect(tf.memory().numTensors - before).toBe(leakCpu);
    expect(ref.weights.length).toBe(12);
    expect(got.weights.length).toBe(ref.weights.length);
    ref.weights.forEach((w, i) => {
      expect(relErr(got.weights[i] as Float32Array, w), `weight #${i}`).toBeLessThan(TOL);
    });
    expect(relErr(got.dx, ref.dx)).toBeLessThan(TOL);
  });

  it("model.fit runs a step on wasm and changes every trainable weight", async () => {
    await tf.setBackend("wasm");
    const model = buildNet();
    model.compile({ optimizer: tf.train.sgd(0.1), loss: "categoricalCrossentropy" });
    const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
    const x = tf.tensor4d(xData, [4, 11, 11, 3]);
    const y = tf.tensor2d(yData, [4, 3]);
    const h = await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    const loss = h.history.loss?.[0] as number;
    expect(Number.isFinite(loss)).toBe(true);
    model.trainableWeights.forEach((w, i) => {
      const after = w.read().dataSync();
      expect(relErr(after, before[i] as Float32Array), w.name).toBeGreaterThan(0);
    });
    tf.dispose([x, y]);
    model.dispose();
  });
});
