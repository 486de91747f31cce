import os from "node:os";
import { parseArgs } from "node:util";
import { initBackend, prepareForExplanation, setWasmKernelOptions, tf } from "@xnn/ml";
import { benchIgModel } from "./lib/igFixture";

// `pnpm bench pointwise [--size 224] [--batch 9] [--reps 5]`: MobileNetV2 1.0's 1x1 convolutions as
// the explanation runs them (`pnpm bench ig`'s model after prepareForExplanation: expansions with
// bias + relu6, linear projections, the last 320 -> 1280) at `size` px and `batch`
// images, the forward FusedConv2D and the explanation's input gradient (XnnPointwiseInputGrad: the
// relu6 mask, then dy x W^T), each on rowGemm and on XNNPACK, alternating call by call on the same
// tensors. Prints ms per call (mean of `reps`), the ratio XNNPACK / rowGemm per layer and summed,
// and whether the two paths gave the same bits.
const { values: a } = parseArgs({
  options: {
    size: { type: "string", default: "224" },
    batch: { type: "string", default: "9" },
    reps: { type: "string", default: "5" },
  },
});
const size = Number(a.size);
const N = Number(a.batch);
const reps = Number(a.reps);
const BELOW_SIX = 6 - 2 ** -21;
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
await initBackend("auto");
console.log(
  `${tf.getBackend()}; MobileNetV2 1.0 1x1 layers at ${size} px, batch ${N}, ${reps} calls each; load ${load()}`,
);

/** [kind, map side, input channels, output channels] of every 1x1 convolution of the explained model. */
const layers: [string, number, number, number][] = [];
{
  const built = await benchIgModel(size);
  const model = prepareForExplanation(built);
  for (const l of model.layers) {
    if (l.getClassName() !== "XnnFusedConv") continue;
    const c = l.getConfig() as { kind: string; kernelSize: number[]; filters: number; activation: string };
    if (c.kind !== "conv" || c.kernelSize[0] !== 1 || c.kernelSize[1] !== 1) continue;
    const [, h, , ci] = (l.input as tf.SymbolicTensor).shape as number[];
    const kind = c.activation === "linear" ? "project" : c.filters === 1280 ? "last" : "expand";
    layers.push([kind, h as number, ci as number, c.filters]);
  }
  model.dispose();
  built.dispose();
}

const timed = (f: () => tf.Tensor): [number, tf.Tensor] => {
  const t0 = performance.now();
  const out = f();
  return [performance.now() - t0, out];
};
const sameBits = (p: tf.Tensor, q: tf.Tensor) => {
  const u = new Uint32Array((p.dataSync() as Float32Array).slice().buffer);
  const v = new Uint32Array((q.dataSync() as Float32Array).slice().buffer);
  return u.length === v.length && u.every((x, i) => x === v[i]);
};

const totals: Record<"fwd" | "bwd", [number, number]> = { fwd: [0, 0], bwd: [0, 0] };
let allSame = true;
console.log(
  "layer                       forward: xnnpack  rowGemm  ratio | input grad: xnnpack  rowGemm  ratio",
);
for (const [kind, h, ci, co] of layers) {
  const relu = kind !== "project";
  const x = tf.randomNormal([N, h, h, ci]) as tf.Tensor4D;
  const w = tf.randomNormal([1, 1, ci, co], 0, 0.1) as tf.Tensor4D;
  const b = tf.randomNormal([co]) as tf.Tensor1D;
  const dy = tf.randomNormal([N, h, h, co]);
  const y = tf.randomUniform([N, h, h, co], -2, 8);
  const forward = (path: "auto" | "xnnpack") => () => {
    setWasmKernelOptions({ pointwiseForwardGemm: path === "auto" });
    return tf.fused.conv2d({
      x,
      filter: w,
      strides: 1,
      pad: "valid",
      bias: b,
      activation: relu ? "relu6" : "linear",
    });
  };
  const backward = (path: "auto" | "xnnpack") => () => {
    setWasmKernelOptions({ pointwiseInputGradGemm: path === "auto" });
    return tf.engine().runKernel("XnnPointwiseInputGrad", relu ? { dy, filter: w, y } : { dy, filter: w }, {
      inputShape: [N, h, h, ci],
      hi: relu ? BELOW_SIX : null,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
  };
  const row: number[] = [];
  for (const [which, make] of [
    ["fwd", forward],
    ["bwd", backward],
  ] as const) {
    const [, p] = timed(make("xnnpack"));
    const [, q] = timed(make("auto"));
    if (!sameBits(p, q)) allSame = false;
    tf.dispose([p, q]);
    let tx = 0;
    let tg = 0;
    for (let r = 0; r < reps; r++) {
      const [dx, o1] = timed(make("xnnpack"));
      o1.dispose();
      const [dg, o2] = timed(make("auto"));
      o2.dispose();
      tx += dx;
      tg += dg;
    }
    totals[which][0] += tx / reps;
    totals[which][1] += tg / reps;
    row.push(tx / reps, tg / reps);
  }
  const [fx, fg, bx, bg] = row as [number, number, number, number];
  console.log(
    `${`${kind} ${h}x${h} ${ci}->${co}`.padEnd(28)}${fx.toFixed(2).padStart(16)} ${fg.toFixed(2).padStart(8)} ${(fx / fg).toFixed(2).padStart(6)} |${bx.toFixed(2).padStart(20)} ${bg.toFixed(2).padStart(8)} ${(bx / bg).toFixed(2).padStart(6)}`,
  );
  tf.dispose([x, w, b, dy, y]);
}
setWasmKernelOptions({ pointwiseForwardGemm: true, pointwiseInputGradGemm: true });
const [fx, fg] = totals.fwd;
const [bx, bg] = totals.bwd;
console.log(
  `summed: forward ${fx.toFixed(1)} vs ${fg.toFixed(1)} ms (${(fx / fg).toFixed(2)}x); input gradient ${bx.toFixed(1)} vs ${bg.toFixed(1)} ms (${(bx / bg).toFixed(2)}x); same bits: ${allSame}; load ${load()}`,
);
