import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  initBackend,
  integratedGradients,
  type PointwiseGradPath,
  prepareForExplanation,
  refinementRoundPoints,
  setPointwiseInputGradPath,
  type tf,
} from "@xnn/ml";
import { benchIgChunk, benchIgImage, benchIgModel } from "./igFixture";

// `pnpm bench ig [--sizes 128,224] [--steps 50] [--reps 1] [--torch-threads 1] [--no-fold] [--chunk N] [--torch-chunk N] [--pointwise auto|xnnpack|gemm]`: seconds
// per Integrated Gradients explanation (fixed `steps` intervals, steps + 1 gradient evaluations, no
// adaptive refinement) for MobileNetV2 1.0 + the 20-10-5 head on the default backend, and where
// /usr/bin/python3 imports torch, the same computation in PyTorch (bench/ig_torch.py) in this
// invocation, with the ratio. tfjs wasm runs on one core; torch is pinned to --torch-threads.
// Both sides explain the model as production does: batch norms folded into the convs
// (prepareForExplanation here, torch.fx conv+bn fusion there); --no-fold times the raw models.
const { values: a } = parseArgs({
  options: {
    sizes: { type: "string", default: "128,224" },
    steps: { type: "string", default: "50" },
    reps: { type: "string", default: "1" },
    "torch-threads": { type: "string", default: "1" },
    python: { type: "string", default: "/usr/bin/python3" },
    "no-fold": { type: "boolean", default: false },
    // Path points per tfjs forward/backward batch; default integratedGradients' own (pointsPerBatch).
    chunk: { type: "string" },
    // Path points per PyTorch batch; default ~16 at 128 px scaled by pixel count (5 at 224 px).
    // Not the tfjs number: PyTorch on one thread is ~3x slower at 13 points than at 5 at 224 px.
    "torch-chunk": { type: "string" },
    // 1x1 input gradients: "auto" (the GEMM, rowGemm), "xnnpack" (as before the GEMM path)
    pointwise: { type: "string", default: "auto" },
  },
});
const fold = !a["no-fold"];
const sizes = (a.sizes as string).split(",").map(Number);
const steps = Number(a.steps);
const reps = Number(a.reps);
// Points per batch: integratedGradients' default for the tfjs model (or --chunk); torch its own.
const torchChunk = (size: number) =>
  a["torch-chunk"] ? Number(a["torch-chunk"]) : refinementRoundPoints(size, size);

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const loadAtStart = load();
const backend = await initBackend("auto");
setPointwiseInputGradPath(a.pointwise as PointwiseGradPath);
console.log(`backend: ${backend.backend} (${backend.reason})`);
const results: { size: number; tfjs: number; torch?: number }[] = [];
for (const size of sizes) {
  const built = await benchIgModel(size);
  // What the explanation code runs: prepareForExplanation(model).
  const t0 = performance.now();
  const model = fold ? prepareForExplanation(built) : built;
  if (fold) {
    const count = (m: tf.LayersModel) => {
      const by = new Map<string, number>();
      for (const l of m.layers) by.set(l.getClassName(), (by.get(l.getClassName()) ?? 0) + 1);
      return by;
    };
    const [b, f] = [count(built), count(model)];
    console.log(
      `prepareForExplanation ${size} px (${(performance.now() - t0).toFixed(0)} ms): ${built.layers.length} -> ${model.layers.length} layers; ` +
        ["BatchNormalization", "ZeroPadding2D", "ReLU", "Conv2D", "DepthwiseConv2D", "XnnFusedConv"]
          .map((k) => `${k} ${b.get(k) ?? 0} -> ${f.get(k) ?? 0}`)
          .join(", "),
    );
  }
  const x = benchIgImage(size);
  const chunk = await benchIgChunk(model, steps + 1, a.chunk as string | undefined);
  // Warm-up with one full chunk (chunk + 1 points), so that the first timed run does not pay for
  // the first batch of that size (wasm heap growth, kernel set-up: ~1 s at 128 px); same in torch.
  const w = chunk;
  await integratedGradients(model, x, { steps: w, maxSteps: w, chunkSize: w, rule: "trapezoid" });
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await integratedGradients(model, x, {
      steps,
      maxSteps: steps,
      rule: "trapezoid",
      target: 0,
      chunkSize: chunk,
    });
    times.push((performance.now() - t) / 1000);
  }
  const all = times.map((t) => t.toFixed(2)).join(", ");
  times.sort((p, q) => p - q);
  results.push({ size, tfjs: times[Math.floor(times.length / 2)] as number });
  console.log(
    `tfjs ${backend.backend}  ${size} px: ${(results.at(-1) as { tfjs: number }).tfjs.toFixed(2)} s per explanation (${steps + 1} gradient evaluations, chunk ${chunk}${fold ? ", folded" : ""}; median of [${all}]; load ${load()})`,
  );
  model.dispose();
  if (model !== built) built.dispose();
}

const probe = spawnSync(a.python as string, ["-c", "import torch, torchvision"], { encoding: "utf8" });
if (probe.status !== 0) {
  console.log(
    `PyTorch: not run (${a.python} cannot import torch/torchvision; apt-get install -y python3-torch python3-torchvision)`,
  );
} else {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "ig_torch.py");
  const run = spawnSync(
    a.python as string,
    [
      script,
      sizes.join(","),
      String(steps),
      a["torch-threads"] as string,
      sizes.map(torchChunk).join(","),
      String(reps),
      fold ? "fold" : "nofold",
    ],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  if (run.status !== 0) {
    console.log(`PyTorch: failed: ${run.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  } else {
    for (const line of run.stdout.trim().split("\n")) {
      const r = JSON.parse(line) as {
        size: number;
        chunk: number;
        seconds: number;
        threads: number;
        torch: string;
        all?: number[];
        folded?: boolean;
      };
      const row = results.find((x) => x.size === r.size);
      if (row) row.torch = r.seconds;
      console.log(
        `torch ${r.torch} cpu ${r.threads} thread(s) ${r.size} px: ${r.seconds.toFixed(2)} s per explanation (chunk ${r.chunk}, ${r.folded ? "folded, " : ""}median of [${(r.all ?? [r.seconds]).map((t) => t.toFixed(2)).join(", ")}]; load ${load()} after)`,
      );
    }
  }
}
// speed = torch s / tfjs s: 1.0x is parity, above it tfjs is faster (issue 20's target: >= 1.0x)
console.log(
  `\nsize  tfjs s  torch s  tfjs/torch  speed vs torch   (load ${load()} now; ${loadAtStart} at the start)`,
);
for (const r of results) {
  console.log(
    `${String(r.size).padEnd(5)} ${r.tfjs.toFixed(2).padStart(6)}  ${r.torch === undefined ? "   -   " : r.torch.toFixed(2).padStart(7)}  ${(r.torch === undefined ? "-" : (r.tfjs / r.torch).toFixed(2)).padStart(10)}  ${r.torch === undefined ? "-" : `${(r.torch / r.tfjs).toFixed(2)}x`}`,
  );
}
