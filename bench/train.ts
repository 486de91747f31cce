import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  AdamW,
  buildModel,
  configureStage,
  createTrainStep,
  heapGuard,
  type ImageBatch,
  initBackend,
  isNormalizationLayer,
  loadPipelineFile,
  type MicroBatchPlan,
  planFields,
  planMicroBatch,
  probeStep,
  setBatchNormMomentum,
  splitHead,
  type TrainStepOptions,
  tf,
  withBatchNormRestored,
} from "@xnn/ml";
import type { ModelName } from "@xnn/shared";
import { parseTorchAlloc, torchEnv } from "./lib/torchAlloc";

// `pnpm bench train [--models mobilenet_v2,resnet18,convnext_v2_atto] [--sizes 128,224]
//   [--modes fe,ft,full,infer] [--steps 3] [--batch 32] [--micro-batch auto|N] [--no-torch] [--quick]
//   [--torch-alloc plain|steady]
//   [--json out.json]`
// `pnpm bench train --memory`: MobileNetV2 FT-15 at 224 px, batch 32, one process: its peak resident memory
//   against the 2 GiB target of issue 16 (add --micro-batch auto for the worker's own choice).
// `pnpm bench train --study [--steps 1]`: the study's rows, FE, FT-15 and full training of MobileNetV2
//   and ResNet-18 at 224 px, batch 100, micro-batches chosen from the memory estimate as trainPipeline
//   does, one process, tfjs only: whether every row runs, and the micro-batch each chose.
//
// Images per second for training and inference at batch 32 (--batch) on the default tfjs backend, and the same
// computation in PyTorch (bench/train_torch.py, /usr/bin/python3) with the ratio. Modes:
//   fe     backbone frozen, head trained; features NOT cached (every step runs the whole model forward,
//          gradients only for the head), BatchNorm in training mode like trainPipeline;
//   ft     the last N non-normalisation backbone layers trainable, N = stage.trainableLayers of
//          conf/base/<model>_ft.yaml (normalisation frozen, as configureStage does);
//   full   every layer trainable, normalisation included;
//   infer  forward only, training=false.
// A training step is trainPipeline's (createTrainStep): variableGrads over model.trainableWeights of the
// PyTorch-style weighted CE, AdamW.applyGradients, fresh dropout seeds, fast BatchNorm gradient, BN
// momentum 0.9; with --micro-batch, the batch split into micro-batches whose gradients are summed
// (auto: planMicroBatch's estimate for the backend, as trainPipeline chooses it).
// Each measurement runs in fresh child processes on synthetic input: 1 warm-up step, then --steps
// timed steps. "per process" = one process alone (one core); "per host" = one process per core
// (os.availableParallelism()) timing simultaneously (a start barrier), their img/s summed. torch runs
// the same way with 1 thread per process, plus one process with N threads as a second reference.
const DEFAULT_BATCH = 32;
/** Issue 16's memory target: MobileNetV2 FT-15 at 224 px, batch 32, under 2 GB per worker process. */
const MEMORY = {
  models: "mobilenet_v2",
  sizes: "224",
  modes: "ft",
  batch: "32",
  steps: "2",
  targetMb: 2048,
};
const STUDY = {
  models: "mobilenet_v2,resnet18",
  sizes: "224",
  modes: "fe,ft,full",
  batch: "100",
  steps: "1",
};
const NUM_CLASSES = 3;
const DROPOUT = 0.2;
const SEED = 42;
// conf/base/*_ft.yaml: learningRate 1e-4, weightDecay 0.01 (neither changes the cost of a step).
const LR = 1e-4;
const WEIGHT_DECAY = 0.01;
const PYTORCH_BN_MOMENTUM = 0.9;
const MODES = ["fe", "ft", "full", "infer"] as const;
type Mode = (typeof MODES)[number];
const BENCH_MODELS = ["mobilenet_v2", "resnet18", "convnext_v2_atto"] as const;

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const self = fileURLToPath(import.meta.url);

const { values: a } = parseArgs({
  options: {
    models: { type: "string" },
    sizes: { type: "string" },
    modes: { type: "string" },
    steps: { type: "string" },
    batch: { type: "string" },
    "micro-batch": { type: "string" },
    study: { type: "boolean", default: false },
    memory: { type: "boolean", default: false },
    "no-torch": { type: "boolean", default: false },
    // PyTorch's allocator: "plain" (a plain script) or "steady" (lib/torchAlloc.ts)
    "torch-alloc": { type: "string", default: "plain" },
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    procs: { type: "string", default: String(os.availableParallelism()) },
    python: { type: "string", default: "/usr/bin/python3" },
    // Internal: one tfjs measurement in this process (spawned by the parent).
    child: { type: "boolean", default: false },
    model: { type: "string" },
    size: { type: "string" },
    mode: { type: "string" },
    "ft-layers": { type: "string" },
    barrier: { type: "boolean", default: false },
  },
});

/** One JSON line on stdout, the protocol between parent and children (both tfjs and torch). */
interface ChildResult {
  imgPerSec: number;
  seconds: number;
  steps: number;
  trainableParams: number;
  backend?: string;
  reason?: string;
  torch?: string;
  threads?: number;
  /** Most images per forward/backward pass of the training step. */
  microBatchSize?: number;
  /** How it was chosen (planFields). */
  microBatchPlan?: Record<string, unknown>;
  /** The process's peak resident memory (VmHWM; ru_maxrss in torch), MiB: model, optimizer, step. */
  peakRssMb?: number;
}

/** Bad command-line input: a one-line message and exit status 2, not a stack trace. */
function usage(msg: string): never {
  process.stderr.write(`bench train: ${msg}\n`);
  process.exit(2);
}

const positiveInt = (s: string, what: string): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) usage(`${what} must be a positive integer, got "${s}"`);
  return n;
};

// ---------------------------------------------------------------------------------------------- child

async function child(): Promise<void> {
  const arch = a.model as ModelName;
  const size = positiveInt(a.size as string, "--size");
  const mode = a.mode as Mode;
  const steps = positiveInt(a.steps as string, "--steps");
  const batch = positiveInt(a.batch as string, "--batch");
  const microArg = a["micro-batch"];
  if (!MODES.includes(mode)) throw new Error(`unknown mode ${mode}`);

  const backend = await initBackend("auto");
  const { model, backboneLayerNames } = await buildModel({
    arch,
    imageSize: size,
    numClasses: NUM_CLASSES,
    dropout: DROPOUT,
    seed: SEED,
  });
  if (mode === "fe") configureStage(model, backboneLayerNames, { kind: "fe" });
  else if (mode === "ft") {
    const n = positiveInt(a["ft-layers"] as string, "--ft-layers");
    configureStage(model, backboneLayerNames, { kind: "ft", trainableLayers: n });
  } else if (mode === "full") {
    // configureStage's "all" keeps normalisation frozen; "full" here means every layer.
    configureStage(model, backboneLayerNames, { kind: "ft", trainableLayers: "all" });
    for (const l of model.layers) if (isNormalizationLayer(l)) l.trainable = true;
  }
  setBatchNormMomentum(model, PYTORCH_BN_MOMENTUM);
  const dropouts = model.layers.filter((l) => l.getClassName() === "Dropout") as unknown as {
    seed?: number;
  }[];
  const varList = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const trainableParams = mode === "infer" ? 0 : varList.reduce((s, v) => s + v.size, 0);
  const optimizer = new AdamW({ learningRate: LR, weightDecay: WEIGHT_DECAY });

  // Synthetic batch, built once: no data loading or decoding in the timed part.
  const x = tf.randomNormal([batch, size, size, 3], 0, 1, "float32", SEED);
  const images: ImageBatch = {
    xs: x.dataSync() as Float32Array,
    ys: Int32Array.from({ length: batch }, (_, i) => i % NUM_CLASSES),
    paths: Array.from({ length: batch }, (_, i) => `synthetic-${i}`),
    shape: [batch, size, size, 3],
  };
  let globalStep = 0;
  // As trainPipeline does for FE without cached features: the frozen backbone runs off the tape.
  const split = mode === "fe" ? splitHead(model) : null;
  let microBatchSize = batch;
  const stepOptions: TrainStepOptions = {
    forward: (input, training) => (split ? split.head : model).apply(input, { training }) as tf.Tensor2D,
    frozenBackbone: split ? split.extractor : null,
    cached: false,
    varList,
    optimizer,
    classWeights: null,
    dropouts,
    seed: SEED,
    inputNoise: 0,
    guard: heapGuard(batch, size, () => microBatchSize),
  };
  let plan: MicroBatchPlan | undefined;
  if (microArg !== undefined && mode !== "infer") {
    // As trainPipeline plans it: the step itself probed on 1 and 2 images, BatchNorm statistics kept.
    plan = await withBatchNormRestored(model, () =>
      planMicroBatch({
        batchSize: batch,
        configured: microArg === "auto" ? null : positiveInt(microArg, "--micro-batch"),
        probe: (n) => probeStep(stepOptions, [size, size, 3], n),
        extraFixedBytes: 3 * 4 * trainableParams,
      }),
    );
    microBatchSize = plan.microBatchSize;
  }
  const runStep = createTrainStep({ ...stepOptions, microBatchSize });

  const trainStep = async (): Promise<void> => {
    await runStep(images, { epoch: 1, globalStep });
    globalStep++;
  };
  const inferStep = async (): Promise<void> => {
    const p = tf.tidy(() => tf.softmax(model.apply(x, { training: false }) as tf.Tensor2D));
    await p.data();
    p.dispose();
  };
  const step = mode === "infer" ? inferStep : trainStep;

  await step(); // warm-up: kernel setup, first allocation of the wasm heap, optimizer slots
  if (a.barrier) await barrier();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const seconds = (performance.now() - t0) / 1000;
  const r: ChildResult = {
    imgPerSec: (batch * steps) / seconds,
    seconds,
    steps,
    trainableParams,
    backend: backend.backend,
    reason: backend.reason,
    microBatchSize,
    ...(plan ? { microBatchPlan: planFields(plan) } : {}),
    peakRssMb: peakRssMb(),
  };
  process.stdout.write(`${JSON.stringify(r)}\n`);
  x.dispose();
  optimizer.dispose();
  model.dispose();
}

/** This process's peak resident set (VmHWM), MiB: the wasm heap included, as it is process memory. */
function peakRssMb(): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined; // not Linux
  }
}

/** Tells the parent we are warmed up and waits for its "go" line, so concurrent children time together. */
async function barrier(): Promise<void> {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const rl = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => rl.once("line", () => resolve()));
  rl.close();
}

// --------------------------------------------------------------------------------------------- parent

interface Cell {
  imgPerSec?: number;
  error?: string;
}
interface Row {
  model: string;
  size: number;
  mode: Mode;
  ftLayers?: number;
  tfjsProcess: Cell;
  tfjsHost: Cell;
  torchProcess?: Cell;
  torchHost?: Cell;
  torchThreaded?: Cell;
  tfjsTrainableParams?: number;
  torchTrainableParams?: number;
  /** Most images per forward/backward pass of the tfjs step (the batch unless --micro-batch). */
  microBatchSize?: number;
  microBatchPlan?: Record<string, unknown>;
  /** Peak resident memory of the one-process measurement, MiB. */
  tfjsPeakMb?: number;
  torchPeakMb?: number;
}

/**
 * Starts `count` copies of a child command at once; each warms up, reports ready, and all get "go"
 * together. Returns each child's result line (or its error).
 */
async function runConcurrent(cmd: string, args: string[], count: number, env?: NodeJS.ProcessEnv) {
  const withBarrier = count > 1;
  const procs: ChildProcess[] = [];
  const results: Promise<ChildResult>[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const p = spawn(cmd, withBarrier ? [...args, "--barrier"] : args, {
      cwd: root,
      env: env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    procs.push(p);
    let stderr = "";
    p.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    let onReady: () => void = () => {};
    ready.push(
      new Promise<void>((resolve) => {
        onReady = resolve;
      }),
    );
    let result: ChildResult | undefined;
    createInterface({ input: p.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        return; // not protocol output
      }
      if (msg && typeof msg === "object" && "ready" in msg) onReady();
      else if (msg && typeof msg === "object" && "imgPerSec" in msg) result = msg as ChildResult;
    });
    // Handled by allSettled below, but only after the start barrier: mark it handled now, or a child
    // that dies during warm-up is an unhandled rejection that kills the whole benchmark.
    const settled = new Promise<ChildResult>((resolve, reject) => {
      p.on("error", reject);
      p.on("close", (code, signal) => {
        onReady(); // a child that died before the barrier must not hold up the others
        if (code === 0 && result) resolve(result);
        else {
          const tail = stderr.trim().split("\n").slice(-3).join(" | ");
          reject(new Error(`exit ${code ?? signal}: ${tail || "no result line"}`));
        }
      });
    });
    settled.catch(() => {});
    results.push(settled);
  }
  if (withBarrier) {
    await Promise.all(ready);
    for (const p of procs) p.stdin?.write("go\n");
  }
  for (const p of procs) p.stdin?.end();
  return Promise.allSettled(results);
}

function cellOf(settled: PromiseSettledResult<ChildResult>[]): Cell & { first?: ChildResult } {
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) return { error: String((failed as PromiseRejectedResult).reason?.message ?? failed) };
  const ok = settled.map((s) => (s as PromiseFulfilledResult<ChildResult>).value);
  return { imgPerSec: ok.reduce((s, r) => s + r.imgPerSec, 0), first: ok[0] };
}

async function parent(): Promise<void> {
  const quick = a.quick as boolean;
  const study = a.study as boolean;
  const memory = a.memory as boolean;
  if ([study, quick, memory].filter(Boolean).length > 1)
    usage("--study, --quick and --memory exclude each other");
  const preset = study ? STUDY : memory ? MEMORY : undefined;
  const pick = (given: string | undefined, presetValue: string, otherwise: string) =>
    given ?? (preset ? presetValue : otherwise);
  const models = quick
    ? ["mobilenet_v2"]
    : pick(a.models, (preset ?? STUDY).models, BENCH_MODELS.join(","))
        .split(",")
        .filter(Boolean);
  const sizes = quick
    ? [64]
    : pick(a.sizes, (preset ?? STUDY).sizes, "128,224")
        .split(",")
        .map((s) => positiveInt(s, "--sizes"));
  const modes = pick(a.modes, (preset ?? STUDY).modes, MODES.join(","))
    .split(",")
    .filter(Boolean) as Mode[];
  const steps = quick ? 1 : positiveInt(pick(a.steps, (preset ?? STUDY).steps, "3"), "--steps");
  const batch = positiveInt(pick(a.batch, (preset ?? STUDY).batch, String(DEFAULT_BATCH)), "--batch");
  const microBatch = a["micro-batch"] ?? (study ? "auto" : undefined);
  if (microBatch !== undefined && microBatch !== "auto") positiveInt(microBatch, "--micro-batch");
  // The study rows ask whether each configuration runs at all: one process, tfjs only.
  // --memory: one process alone, so its peak is its own.
  const procs = study || memory ? 1 : positiveInt(a.procs as string, "--procs");
  for (const m of modes) if (!MODES.includes(m)) usage(`unknown mode ${m} (expected ${MODES.join(", ")})`);
  const { MODEL_NAMES } = await import("@xnn/shared");
  for (const m of models)
    if (!(MODEL_NAMES as readonly string[]).includes(m))
      usage(`unknown model ${m} (buildModel accepts ${MODEL_NAMES.join(", ")})`);
  const python = a.python as string;

  // N for ft comes from the model's own FT stage config, as a sweep would use it.
  const ftLayers = new Map<string, number>();
  if (modes.includes("ft")) {
    for (const m of models) {
      const cfg = loadPipelineFile(path.join(root, "conf", "base", `${m}_ft.yaml`));
      const n = cfg.stage.kind === "ft" ? cfg.stage.trainableLayers : undefined;
      if (typeof n !== "number")
        throw new Error(`conf/base/${m}_ft.yaml: stage.trainableLayers is ${String(n)}, expected a number`);
      ftLayers.set(m, n);
    }
  }

  const torchAlloc = parseTorchAlloc(a["torch-alloc"] as string, "train");
  let torchOk = !a["no-torch"] && !study;
  let torchNote = study ? "not run (--study)" : "not run (--no-torch)";
  if (torchOk) {
    const probe = spawnSync(python, ["-c", "import torch, torchvision; print(torch.__version__)"], {
      encoding: "utf8",
    });
    if (probe.status !== 0) {
      torchOk = false;
      torchNote = `not run: ${python} cannot import torch/torchvision (apt-get install -y python3-torch python3-torchvision)`;
      console.log(`PyTorch: ${torchNote}; tfjs figures only`);
    } else torchNote = `torch ${probe.stdout.trim()}, allocator ${torchAlloc}`;
  }

  const total = models.length * sizes.length * modes.length;
  const progress = (i: number, what: string) => process.stderr.write(`[${i}/${total}] ${what}\n`);
  console.log(
    `bench train: batch ${batch}${microBatch ? `, micro-batches ${microBatch}` : ""}, ${steps} timed step(s) after 1 warm-up, per host = ${procs} concurrent processes (os.availableParallelism() = ${os.availableParallelism()})`,
  );

  const rows: Row[] = [];
  let backendLine: string | undefined;
  let torchVersion: string | undefined;
  let i = 0;
  for (const model of models) {
    for (const size of sizes) {
      for (const mode of modes) {
        i++;
        const label = `${model} ${size} px ${mode}`;
        const n = ftLayers.get(model);
        const row: Row = {
          model,
          size,
          mode,
          ...(mode === "ft" ? { ftLayers: n } : {}),
          tfjsProcess: {},
          tfjsHost: {},
        };
        rows.push(row);
        const tfArgs = [
          "--import",
          "tsx",
          self,
          "--child",
          "--model",
          model,
          "--size",
          String(size),
          "--mode",
          mode,
          "--steps",
          String(steps),
          "--batch",
          String(batch),
          ...(microBatch ? ["--micro-batch", microBatch] : []),
          ...(mode === "ft" ? ["--ft-layers", String(n)] : []),
        ];
        progress(i, `${label}: tfjs, 1 process`);
        const one = cellOf(await runConcurrent(process.execPath, tfArgs, 1));
        row.tfjsProcess = { imgPerSec: one.imgPerSec, error: one.error };
        if (one.first) {
          row.tfjsTrainableParams = one.first.trainableParams;
          row.tfjsPeakMb = one.first.peakRssMb;
          if (mode !== "infer") {
            row.microBatchSize = one.first.microBatchSize;
            row.microBatchPlan = one.first.microBatchPlan;
          }
          if (!backendLine) {
            backendLine = `tfjs backend: ${one.first.backend} (${one.first.reason})`;
            console.log(backendLine);
          }
        }
        if (procs > 1) {
          progress(i, `${label}: tfjs, ${procs} concurrent processes`);
          const host = cellOf(await runConcurrent(process.execPath, tfArgs, procs));
          row.tfjsHost = { imgPerSec: host.imgPerSec, error: host.error };
        } else row.tfjsHost = row.tfjsProcess;

        if (torchOk) {
          const pyArgs = (threads: number) => [
            path.join(here, "train_torch.py"),
            "--model",
            model,
            "--size",
            String(size),
            "--mode",
            mode,
            "--steps",
            String(steps),
            "--threads",
            String(threads),
            "--batch",
            String(batch),
            ...(mode === "ft" ? ["--ft-layers", String(n)] : []),
          ];
          const env = (threads: number) =>
            torchEnv(torchAlloc, { OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) });
          progress(i, `${label}: torch, 1 process x 1 thread`);
          const t1 = cellOf(await runConcurrent(python, pyArgs(1), 1, env(1)));
          row.torchProcess = { imgPerSec: t1.imgPerSec, error: t1.error };
          if (t1.first) {
            row.torchTrainableParams = t1.first.trainableParams;
            row.torchPeakMb = t1.first.peakRssMb;
            torchVersion ??= t1.first.torch;
          }
          if (procs > 1) {
            progress(i, `${label}: torch, ${procs} concurrent processes x 1 thread`);
            const th = cellOf(await runConcurrent(python, pyArgs(1), procs, env(1)));
            row.torchHost = { imgPerSec: th.imgPerSec, error: th.error };
            progress(i, `${label}: torch, 1 process x ${procs} threads`);
            const tm = cellOf(await runConcurrent(python, pyArgs(procs), 1, env(procs)));
            row.torchThreaded = { imgPerSec: tm.imgPerSec, error: tm.error };
          } else {
            row.torchHost = row.torchProcess;
            row.torchThreaded = row.torchProcess;
          }
        }
        for (const [what, c] of Object.entries(row)) {
          const cell = c as Cell | undefined;
          if (cell && typeof cell === "object" && cell.error)
            process.stderr.write(`  ${what} failed: ${cell.error}\n`);
        }
      }
    }
  }

  printTable(rows, procs, torchOk, batch);
  const summary = summarise(rows, torchOk, torchNote);
  console.log(summary);
  if (study) {
    const failed = rows.filter((r) => r.tfjsProcess.error);
    for (const r of rows)
      console.log(
        `study row ${r.model} ${r.size} px ${r.mode === "ft" ? `ft-${r.ftLayers}` : r.mode} batch ${batch}: ${r.tfjsProcess.error ? `FAILED (${r.tfjsProcess.error})` : `ok, micro-batches of at most ${r.microBatchSize} ${JSON.stringify(r.microBatchPlan ?? {})}`}`,
      );
    console.log(`study: ${rows.length - failed.length} of ${rows.length} row(s) ran`);
    if (failed.length > 0) process.exitCode = 1;
  }
  if (memory) {
    for (const r of rows) {
      const mb = r.tfjsPeakMb;
      const verdict =
        mb === undefined ? "not measured" : mb < MEMORY.targetMb ? "under the target" : "OVER the target";
      console.log(
        `memory: ${r.model} ${r.size} px ${r.mode === "ft" ? `ft-${r.ftLayers}` : r.mode} batch ${batch} (micro-batches of ${r.microBatchSize ?? batch}): peak RSS ${mb?.toFixed(0) ?? "-"} MiB per process, ${verdict} of ${MEMORY.targetMb} MiB; PyTorch ${r.torchPeakMb?.toFixed(0) ?? "-"} MiB`,
      );
    }
  }
  if (a.json) {
    const out = {
      date: new Date().toISOString(),
      host: { cpus: os.cpus()[0]?.model, availableParallelism: os.availableParallelism(), procs },
      node: process.version,
      tfjsBackend: backendLine,
      torch: torchOk ? (torchVersion ?? torchNote) : torchNote,
      torchAlloc,
      batch,
      microBatch: microBatch ?? "whole batch",
      steps,
      rows,
      summary,
    };
    writeFileSync(a.json, `${JSON.stringify(out, null, 2)}\n`);
    process.stderr.write(`wrote ${a.json}\n`);
  }
}

const fmt = (c: Cell | undefined): string =>
  c === undefined ? "-" : c.error ? "failed" : c.imgPerSec === undefined ? "-" : c.imgPerSec.toFixed(1);
const ratio = (r: Row): number | undefined =>
  r.tfjsHost.imgPerSec !== undefined && r.torchHost?.imgPerSec
    ? r.tfjsHost.imgPerSec / r.torchHost.imgPerSec
    : undefined;

function printTable(rows: Row[], procs: number, torch: boolean, batch: number): void {
  const head = [
    "model",
    "size",
    "mode",
    "micro",
    "peak MiB",
    "tfjs/proc",
    "tfjs/host",
    "torch/proc",
    "torch/host",
    `torch ${procs}thr`,
    "tfjs/torch host",
  ];
  const body = rows.map((r) => [
    r.model,
    String(r.size),
    r.mode === "ft" ? `ft ${r.ftLayers}` : r.mode,
    r.microBatchSize === undefined ? "-" : String(r.microBatchSize),
    r.tfjsPeakMb === undefined
      ? "-"
      : `${r.tfjsPeakMb.toFixed(0)}${r.torchPeakMb === undefined ? "" : `/${r.torchPeakMb.toFixed(0)}`}`,
    fmt(r.tfjsProcess),
    fmt(r.tfjsHost),
    torch ? fmt(r.torchProcess) : "-",
    torch ? fmt(r.torchHost) : "-",
    torch ? fmt(r.torchThreaded) : "-",
    ratio(r)?.toFixed(2) ?? "-",
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => (b[c] as string).length)));
  const line = (cells: string[]) =>
    cells.map((s, c) => (c < 5 ? s.padEnd(widths[c] as number) : s.padStart(widths[c] as number))).join("  ");
  console.log(
    `\nimages/second, batch ${batch}, micro = most images per forward/backward pass, peak MiB = one process's peak resident memory, tfjs/torch (per host = ${procs} processes, one per core, summed)`,
  );
  console.log(line(head));
  for (const b of body) console.log(line(b));
}

function summarise(rows: Row[], torch: boolean, torchNote: string): string {
  const failed = rows.filter((r) =>
    [r.tfjsProcess, r.tfjsHost, r.torchProcess, r.torchHost, r.torchThreaded].some((c) => c?.error),
  ).length;
  const failedNote = failed > 0 ? `; ${failed} row(s) with failed measurements` : "";
  if (!torch) return `summary: ${rows.length} row(s), tfjs only (PyTorch ${torchNote})${failedNote}`;
  const rs = rows.flatMap((r) => {
    const q = ratio(r);
    return q === undefined ? [] : [{ r, q }];
  });
  if (rs.length === 0) return `summary: no row has both tfjs and torch per-host figures${failedNote}`;
  const geo = Math.exp(rs.reduce((s, x) => s + Math.log(x.q), 0) / rs.length);
  const lo = rs.reduce((m, x) => (x.q < m.q ? x : m));
  const hi = rs.reduce((m, x) => (x.q > m.q ? x : m));
  const name = (x: { r: Row; q: number }) => `${x.q.toFixed(2)} ${x.r.model} ${x.r.size} ${x.r.mode}`;
  return `summary: tfjs/torch per host, geometric mean ${geo.toFixed(2)} over ${rs.length} row(s) (min ${name(lo)}, max ${name(hi)}; ${torchNote})${failedNote}`;
}

// Last, so every module-level const above is initialised before it runs.
if (a.child) await child();
else await parent();
