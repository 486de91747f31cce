import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  initBackend,
  integratedGradients,
  prepareForExplanation,
  refinementRoundPoints,
  setWasmKernelOptions,
  type tf,
} from "@xnn/ml";
import { benchIgChunk, benchIgImage, benchIgModel } from "./lib/igFixture";
import { parseTorchAllocs, type TorchAlloc, torchEnv } from "./lib/torchAlloc";

// `pnpm bench ig [--sizes 128,224] [--steps 50] [--reps 5] [--torch-threads 1] [--no-fold] [--chunk N] [--torch-chunk N] [--pointwise auto|xnnpack] [--torch-alloc plain,steady]`: seconds
// per Integrated Gradients explanation (fixed `steps` intervals, steps + 1 gradient evaluations, no
// adaptive refinement) for MobileNetV2 1.0 + the 20-10-5 head on the default backend, and where
// /usr/bin/python3 imports torch, the same computation in PyTorch (bench/ig_torch.py) in this
// invocation, with the ratio: --reps paired rounds (one tfjs explanation per size, then one PyTorch
// explanation per size in a fresh process for each --torch-alloc), the median of the per-round
// ratios, and the load and each timed run's minor page faults beside every round. tfjs wasm runs on
// one core; torch is pinned to --torch-threads.
// --torch-alloc: PyTorch as a plain script runs ("plain") and/or with glibc malloc's thresholds fixed
// ("steady"; lib/torchAlloc.ts says why it matters).
// Both sides explain the model as production does: batch norms folded into the convs
// (prepareForExplanation here, torch.fx conv+bn fusion there); --no-fold times the raw models.
const { values: a } = parseArgs({
  options: {
    sizes: { type: "string", default: "128,224" },
    steps: { type: "string", default: "50" },
    reps: { type: "string", default: "5" },
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
    "torch-alloc": { type: "string", default: "plain,steady" },
  },
});
const fold = !a["no-fold"];
const sizes = (a.sizes as string).split(",").map(Number);
const steps = Number(a.steps);
const reps = Number(a.reps);
const allocs = parseTorchAllocs(a["torch-alloc"] as string, "ig");
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
if (a.pointwise !== "auto" && a.pointwise !== "xnnpack")
  throw new Error(`bench ig: --pointwise takes auto and xnnpack, got ${a.pointwise}`);
setWasmKernelOptions({ pointwiseInputGradGemm: a.pointwise === "auto" });
console.log(`backend: ${backend.backend} (${backend.reason})`);
interface Prepared {
  size: number;
  model: tf.LayersModel;
  built: tf.LayersModel;
  x: Float32Array;
  chunk: number;
}
const prepared: Prepared[] = [];
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
  // Warm-up with exactly one batch of `chunk` points, the timed runs' batch size, so that the first
  // timed run does not pay for growing the wasm heap to that batch (page faults: ~1 s at 224 px) or
  // for the first kernels of that shape; PyTorch warms up with one batch of its own chunk.
  await integratedGradients(model, x, {
    steps: chunk - 1,
    maxSteps: chunk - 1,
    chunkSize: chunk,
    rule: "trapezoid",
  });
  prepared.push({ size, model, built, x, chunk });
}

const probe = spawnSync(a.python as string, ["-c", "import torch, torchvision"], { encoding: "utf8" });
const withTorch = probe.status === 0;
if (!withTorch) {
  console.log(
    `PyTorch: not run (${a.python} cannot import torch/torchvision; apt-get install -y python3-torch python3-torchvision)`,
  );
}
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "ig_torch.py");
interface TorchLine {
  size: number;
  chunk: number;
  seconds: number;
  faults: number;
  threads: number;
  torch: string;
  folded?: boolean;
}
/** One PyTorch explanation per size (a fresh process: import, build, fold, warm-up, one timed run). */
const torchRound = (alloc: TorchAlloc): TorchLine[] => {
  const run = spawnSync(
    a.python as string,
    [
      script,
      sizes.join(","),
      String(steps),
      a["torch-threads"] as string,
      sizes.map(torchChunk).join(","),
      "1",
      fold ? "fold" : "nofold",
    ],
    { encoding: "utf8", maxBuffer: 1 << 20, env: torchEnv(alloc) },
  );
  if (run.status !== 0)
    throw new Error(`PyTorch failed: ${run.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return run.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as TorchLine);
};
const kilo = (n: number) => `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
const faultsNow = () => process.resourceUsage().minorPageFault;

// Paired rounds: each round times one tfjs explanation per size, then one PyTorch explanation per
// size per allocator mode, so that all sides see the same minutes of this VM (whose speed drifts:
// PyTorch's 224 px time has ranged 1.5-2.8 s between sessions). Reported per size: each side's
// median and the median of the per-round speed ratios (torch s / tfjs s).
const tfjsTimes = new Map<number, number[]>(sizes.map((s) => [s, []]));
const key = (alloc: string, size: number) => `${alloc} ${size}`;
const torchTimes = new Map<string, number[]>(allocs.flatMap((m) => sizes.map((s) => [key(m, s), []])));
let torchInfo: TorchLine | undefined;
for (let r = 0; r < reps; r++) {
  const parts: string[] = [];
  for (const p of prepared) {
    const f = faultsNow();
    const t = performance.now();
    await integratedGradients(p.model, p.x, {
      steps,
      maxSteps: steps,
      rule: "trapezoid",
      target: 0,
      chunkSize: p.chunk,
    });
    const seconds = (performance.now() - t) / 1000;
    tfjsTimes.get(p.size)?.push(seconds);
    parts.push(`${p.size} px ${seconds.toFixed(2)} s (${kilo(faultsNow() - f)} faults)`);
  }
  let line = `round ${r + 1}/${reps}: tfjs ${parts.join(", ")} (load ${load()})`;
  if (withTorch) {
    for (const alloc of allocs) {
      const got = torchRound(alloc);
      for (const t of got) {
        torchTimes.get(key(alloc, t.size))?.push(t.seconds);
        torchInfo = t;
      }
      line += `; torch ${alloc} ${got.map((t) => `${t.size} px ${t.seconds.toFixed(2)} s (${kilo(t.faults)})`).join(", ")}`;
    }
    line += ` (load ${load()})`;
  }
  console.log(line);
}
for (const p of prepared) {
  p.model.dispose();
  if (p.model !== p.built) p.built.dispose();
}

const median = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)] as number;
console.log(
  `\ntfjs ${backend.backend}: ${steps + 1} gradient evaluations, chunk ${prepared.map((p) => `${p.chunk} at ${p.size} px`).join(", ")}${fold ? ", folded" : ""}`,
);
if (torchInfo)
  console.log(
    `torch ${torchInfo.torch} cpu ${torchInfo.threads} thread(s): chunk ${sizes.map((s) => `${torchChunk(s)} at ${s} px`).join(", ")}${torchInfo.folded ? ", folded" : ""}`,
  );
// speed = torch s / tfjs s: 1.0x is parity, above it tfjs is faster (issue 20's target: >= 1.0x)
const shown = withTorch ? allocs : [];
console.log(
  `\nsize  tfjs s  then per PyTorch allocator: torch s, speed = median of the rounds' ratios (range)   (load ${load()} now; ${loadAtStart} at the start)`,
);
for (const size of sizes) {
  const tj = tfjsTimes.get(size) as number[];
  const cells = shown.map((alloc) => {
    const th = torchTimes.get(key(alloc, size)) ?? [];
    const ratios = th.map((t, i) => t / (tj[i] as number));
    return `${alloc} ${median(th).toFixed(2)} s ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`;
  });
  console.log(`${String(size).padEnd(5)} ${median(tj).toFixed(2).padStart(6)}  ${cells.join("   ")}`);
}
