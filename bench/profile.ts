import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  initBackend,
  loadPipelineFile,
  PhaseProfiler,
  type ProfileEntry,
  runPipeline,
  setWasmKernelOptions,
} from "@xnn/ml";
import type { PipelineConfig } from "@xnn/shared";

// `pnpm bench profile [--models mobilenet_v2,resnet18] [--size 64] [--batch 32] [--epochs 2]
//   [--n 1000] [--ft-layers 15] [--top 12] [--backend wasm] [--batchnorm-kernel off|on|both]`
//
// Where one FE and one FT epoch spend their time, as `pnpm bench study` trains them (64 px, batch 32,
// FE on cached features, FT of the last 15 layers from the FE checkpoint, no augmentation, probes
// off; then the same FT with 2 probe images per class to time the probes): wall time per phase (data
// decode and augmentation, the step's forward / backward / optimizer, validation, each hook:
// checkpoint and resume-state writes) and self time per kernel, split by where it ran (the tape's
// forward, its backward, outside any tape). One process, one core, in this process. Database writes
// are not on this path: the training thread posts each epoch to the worker's main thread, which
// writes it to Postgres while the next epoch trains. `--batchnorm-kernel on` (the default, as in
// production: kernels/options.ts) runs our wasm FusedBatchNorm, `off` the shipped one; `both` runs
// each FT twice, back to back from the same FE checkpoint, with the shipped wasm FusedBatchNorm and
// with ours (kernels/batchNorm.ts: the same values bit for bit), and ends with one line per model
// comparing them.
const { values } = parseArgs({
  options: {
    models: { type: "string", default: "mobilenet_v2,resnet18" },
    size: { type: "string", default: "64" },
    batch: { type: "string", default: "32" },
    epochs: { type: "string", default: "2" },
    n: { type: "string", default: "1000" },
    "ft-layers": { type: "string", default: "15" },
    top: { type: "string", default: "12" },
    backend: { type: "string", default: "wasm" },
    "batchnorm-kernel": { type: "string", default: "on" },
  },
});
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const work = path.join(root, ".xnn", "bench-profile");
const size = Number(values.size);
const epochs = Number(values.epochs);
const top = Number(values.top);
const bnModes = { on: ["on"], off: ["off"], both: ["off", "on"] }[values["batchnorm-kernel"]];
if (!bnModes)
  throw new Error(`--batchnorm-kernel: expected on, off or both, got ${values["batchnorm-kernel"]}`);
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

const dataDir = path.join(root, ".xnn", "bench-study", `data-n${values.n}-s${size}`);
if (!existsSync(path.join(dataDir, "synth.json"))) {
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const r = spawnSync(
    "pnpm",
    ["-s", "data:synth", "--out", dataDir, "--n", values.n, "--size", String(size), "--force"],
    { stdio: "inherit", cwd: root },
  );
  if (r.status !== 0) throw new Error("pnpm data:synth failed");
}

await initBackend(values.backend as "wasm");
console.log(
  `machine: ${os.availableParallelism()} cores, load ${load()} (1/5/15 min); backend ${values.backend}; ${size} px, batch ${values.batch}, ${epochs} epochs per stage`,
);

function config(arch: string, stage: "fe" | "ft", probes: number): PipelineConfig {
  const file = path.join(work, `${arch}_${stage}_${probes}.yaml`);
  mkdirSync(work, { recursive: true });
  const cfg = {
    task: "bench-profile",
    seed: 7,
    data: { dir: dataDir, imageSize: size, augment: false, cacheFeatures: stage === "fe" },
    model: { arch, dropout: 0.2, pretrainedDir: null },
    stage: stage === "fe" ? { kind: "fe" } : { kind: "ft", trainableLayers: Number(values["ft-layers"]) },
    classWeighting: "none",
    train: {
      batchSize: Number(values.batch),
      epochs,
      learningRate: stage === "fe" ? 1e-3 : 1e-4,
      weightDecay: 1e-4,
      earlyStopping: { patience: 3 },
      plateau: { factor: 0.2, patience: 2, minLr: 1e-6 },
    },
    eval: { average: "weighted", probePerClass: probes },
  };
  // JSON is YAML.
  writeFileSync(file, JSON.stringify(cfg, null, 2));
  return loadPipelineFile(file);
}

async function profiled(label: string, cfg: PipelineConfig, runDir: string, initFrom?: string) {
  rmSync(runDir, { recursive: true, force: true });
  const profiler = new PhaseProfiler();
  const undo = profiler.installKernelTimers();
  const t0 = performance.now();
  try {
    await runPipeline(cfg, { runDir, initFrom, profiler, log: () => {} });
  } finally {
    undo();
  }
  const wall = performance.now() - t0;
  print(label, profiler, wall);
  const bn = profiler.report().kernels.filter((k) => k.name === "FusedBatchNorm");
  return { wallMs: wall, batchNormMs: sum(bn) };
}

function print(label: string, profiler: PhaseProfiler, wallMs: number) {
  const { phases, kernels } = profiler.report();
  const step = phases.find((p) => p.name === "step")?.ms ?? 0;
  // The step's own kernels (explanation probes also run a tape, outside the step).
  const fwd = sum(kernels.filter((k) => k.place === "forward" && k.phase === "step"));
  const bwd = sum(kernels.filter((k) => k.place === "backward" && k.phase === "step"));
  const opt = sum(kernels.filter((k) => k.phase === "optimizer"));
  const frozen = sum(kernels.filter((k) => k.place === "other" && k.phase === "step"));
  console.log(`\n## ${label}: ${(wallMs / 1000).toFixed(1)} s for ${epochs} epochs (load ${load()})`);
  console.log("phase                                   ms/epoch   ms in run   share of run");
  const row = (name: string, ms: number) =>
    console.log(
      `  ${name.padEnd(38)}${(ms / epochs).toFixed(0).padStart(8)}  ${ms.toFixed(0).padStart(10)}   ${((100 * ms) / wallMs).toFixed(1).padStart(5)}%`,
    );
  for (const p of phases) {
    if (p.name === "step") {
      row("step", p.ms);
      row("  forward (kernels, in tape)", fwd);
      row("  backward (kernels)", bwd);
      row("  optimizer (kernels)", opt);
      if (frozen > 0) row("  frozen backbone forward (kernels)", frozen);
      row("  dispatch, tidy, reads (rest)", step - fwd - bwd - frozen);
    } else if (p.name !== "optimizer") row(p.name, p.ms);
  }
  const backward = groupBy(
    kernels.filter((k) => k.place === "backward" && k.phase === "step"),
    (k) => family(k.name),
  );
  console.log("backward by layer type (kernel family)   ms/epoch   share of backward");
  for (const g of backward)
    console.log(
      `  ${g.name.padEnd(38)}${(g.ms / epochs).toFixed(0).padStart(8)}   ${((100 * g.ms) / (bwd || 1)).toFixed(1).padStart(5)}%`,
    );
  const all = groupBy(kernels, (k) => `${k.place === "other" ? k.phase || "other" : k.place} ${k.name}`);
  const total = sum(kernels);
  console.log(
    `top ${top} kernels (self time; ${(total / 1000).toFixed(1)} s in kernels)   ms/epoch  calls/epoch  share`,
  );
  for (const k of all.slice(0, top))
    console.log(
      `  ${k.name.padEnd(48)}${(k.ms / epochs).toFixed(0).padStart(7)}  ${(k.count / epochs).toFixed(0).padStart(8)}   ${((100 * k.ms) / total).toFixed(1).padStart(5)}%`,
    );
  const calls = kernels.reduce((a, k) => a + k.count, 0);
  console.log(`  kernel calls per epoch: ${(calls / epochs).toFixed(0)}`);
}

/** The layer type a kernel's backward work belongs to. */
function family(kernel: string): string {
  if (/^Depthwise/.test(kernel)) return "depthwise conv";
  if (/Conv2D|Conv2d|Im2Col/i.test(kernel)) return "conv";
  if (/BatchMatMul|MatMul/.test(kernel)) return "matmul (conv im2col, dense)";
  if (/BatchNorm/.test(kernel)) return "batch norm";
  if (/Relu|Relu6|Elu|Sigmoid|Gelu|Step|Select|Greater|Less/.test(kernel)) return "activation";
  if (/Pad|Slice|StridedSlice|Concat|Reshape|Transpose|Tile|Cast|Identity|Pack|Unpack/.test(kernel))
    return "layout (pad, slice, concat)";
  if (/Sum|Mean|Max|Min|Prod/.test(kernel)) return "reductions";
  return "elementwise and other";
}

function sum(xs: readonly ProfileEntry[]): number {
  return xs.reduce((a, x) => a + x.ms, 0);
}

function groupBy<T extends ProfileEntry>(xs: readonly T[], key: (x: T) => string): ProfileEntry[] {
  const m = new Map<string, ProfileEntry>();
  for (const x of xs) {
    const k = key(x);
    const e = m.get(k) ?? { name: k, ms: 0, count: 0 };
    e.ms += x.ms;
    e.count += x.count;
    m.set(k, e);
  }
  return [...m.values()].sort((a, b) => b.ms - a.ms);
}

const comparisons: string[] = [];
for (const arch of values.models.split(",")) {
  const feDir = path.join(work, `${arch}-fe`);
  setWasmKernelOptions({ batchNorm: values["batchnorm-kernel"] === "on" });
  await profiled(`${arch} FE (cached features)`, config(arch, "fe", 0), feDir);
  const ftInit = path.join(feDir, "checkpoint");
  const ft: Record<string, { wallMs: number; batchNormMs: number }> = {};
  for (const mode of bnModes) {
    setWasmKernelOptions({ batchNorm: mode === "on" });
    ft[mode] = await profiled(
      `${arch} FT-${values["ft-layers"]} (FusedBatchNorm kernel ${mode === "on" ? "ours" : "shipped"})`,
      config(arch, "ft", 0),
      path.join(work, `${arch}-ft`),
      ftInit,
    );
  }
  if (ft.on && ft.off) {
    const s = (ms: number) => (ms / 1000 / epochs).toFixed(2);
    comparisons.push(
      `${arch} FT-${values["ft-layers"]}: ${s(ft.off.wallMs)} s/epoch shipped FusedBatchNorm (${s(ft.off.batchNormMs)} s in it), ` +
        `${s(ft.on.wallMs)} s/epoch ours (${s(ft.on.batchNormMs)} s in it)`,
    );
  }
}
setWasmKernelOptions({ batchNorm: values["batchnorm-kernel"] === "on" });
// The probes, once, on the last model: FT with explanation probes (2 images per class).
const last = values.models.split(",").at(-1) as string;
await profiled(
  `${last} FT-${values["ft-layers"]} with explanation probes (2 per class)`,
  config(last, "ft", 2),
  path.join(work, `${last}-ft-probes`),
  path.join(work, `${last}-fe`, "checkpoint"),
);
if (comparisons.length > 0)
  console.log(`\n## FusedBatchNorm kernel (load ${load()})\n${comparisons.join("\n")}`);
