/**
 * ms per call of the wasm conv-gradient kernels vs the cpu backend's kernels
 * (and the shipped wasm Conv2DBackpropInput) on MobileNetV2-like shapes,
 * 128 px input, batch 16.
 *
 *   pnpm bench kernels [--reps 5] [--cpu-reps 1] [--cpu-batch 1] [--no-cpu] [--batch 16]
 *   pnpm bench kernels --resnet [--reps 5] [--only LABEL-PART] [--compare simd|fma|forward]
 *   pnpm bench kernels --resnet-step [--reps 5] [--batch 32]
 *
 * --resnet: ResNet-18's layer2-4 convolutions at 64 px (maps 8x8 to 2x2, 128-512 channels;
 * stride-2 3x3 convs are pre-padded 'valid' ones, as models/resnet.ts builds them), batch 32
 * unless --batch says otherwise, wasm only, fresh inputs per call (as in training: no filter
 * cache hits), each kernel alternating call by call with the SIMD loops switched off
 * (setWasmKernelOptions({ simd: false }): the convolution trick / phase convolutions), best wall ms
 * and best CPU ms of each, and the ratio of CPU times (steadier than wall time on a shared machine).
 * --compare fma alternates instead with packedGemm's fused multiply-add switched off
 * (setWasmKernelOptions({ fma: false }): separate mul and add); --compare forward times the forward
 * FusedConv2D (bias + relu) and the stride-1 input gradients on the tap GEMM (fusedConv2d.ts, any
 * map size) against XNNPACK.
 *
 * --resnet-step: whole training steps of ResNet-18 (64 px, every layer trainable, forward and
 * gradients of all weights, no optimizer; fresh weight buffers before each step, as in training), alternating step by step between the defaults and
 * packedGemm without FMA plus every convolution on XNNPACK ({ fma: false, forwardGemmMaxMap: 0 }),
 * best and median CPU ms of each (this process's; steadier than wall time on a shared machine).
 *
 * Single-threaded: wasm in Node runs on one core, and the cpu backend is JS.
 * The cpu backend is so slow (its Conv2DBackpropFilter took 70 s for the
 * batch-16 stem) that it runs at --cpu-batch and is scaled linearly to
 * --batch: every kernel here does work proportional to the batch size.
 */
import { buildModel, initBackend, setWasmKernelOptions, tf, type WasmKernelOptions } from "@xnn/ml";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : dflt;
}
const RESNET_STEP = process.argv.includes("--resnet-step");
const RESNET = RESNET_STEP || process.argv.includes("--resnet");
/** What --resnet switches off in every other call: the SIMD loops, their FMA, or the forward tap GEMM. */
const COMPARE_ARG = process.argv[process.argv.indexOf("--compare") + 1];
const COMPARE: "simd" | "fma" | "forward" =
  COMPARE_ARG === "fma" || COMPARE_ARG === "forward" ? COMPARE_ARG : "simd";
/** The option values alternated: on first, then off. */
const COMPARED: Record<typeof COMPARE, [Partial<WasmKernelOptions>, Partial<WasmKernelOptions>]> = {
  simd: [{ simd: true }, { simd: false }],
  fma: [{ fma: true }, { fma: false }],
  forward: [{ forwardGemmMaxMap: Number.MAX_SAFE_INTEGER }, { forwardGemmMaxMap: 0 }],
};
const REPS = arg("reps", 5);
const CPU_REPS = arg("cpu-reps", 1);
const BATCH = arg("batch", RESNET ? 32 : 16);
const CPU_BATCH = Math.min(arg("cpu-batch", 1), BATCH);
const WITH_CPU = !RESNET && !process.argv.includes("--no-cpu");
const onlyAt = process.argv.indexOf("--only");
/** --only TEXT: just the shapes whose label contains TEXT */
const ONLY = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? "") : "";

interface Shape {
  label: string;
  H: number;
  W: number;
  C: number;
  /** output channels (conv) or 1 (depthwise) */
  O: number;
  K: number;
  s: number;
  pad: "same" | "valid";
  depthwise: boolean;
}

const shapes: Shape[] = [
  {
    label: "stem conv 3x3 s2 128x128x3->32",
    H: 128,
    W: 128,
    C: 3,
    O: 32,
    K: 3,
    s: 2,
    pad: "same",
    depthwise: false,
  },
  {
    label: "conv 3x3 s1 64x64x32->32",
    H: 64,
    W: 64,
    C: 32,
    O: 32,
    K: 3,
    s: 1,
    pad: "same",
    depthwise: false,
  },
  {
    label: "conv 3x3 s2 64x64x32->32",
    H: 64,
    W: 64,
    C: 32,
    O: 32,
    K: 3,
    s: 2,
    pad: "same",
    depthwise: false,
  },
  {
    label: "pointwise 1x1 64x64x32->16",
    H: 64,
    W: 64,
    C: 32,
    O: 16,
    K: 1,
    s: 1,
    pad: "valid",
    depthwise: false,
  },
  {
    label: "pointwise 1x1 32x32x16->96",
    H: 32,
    W: 32,
    C: 16,
    O: 96,
    K: 1,
    s: 1,
    pad: "valid",
    depthwise: false,
  },
  {
    label: "pointwise 1x1 16x16x96->24",
    H: 16,
    W: 16,
    C: 96,
    O: 24,
    K: 1,
    s: 1,
    pad: "valid",
    depthwise: false,
  },
  {
    label: "pointwise 1x1 4x4x320->1280",
    H: 4,
    W: 4,
    C: 320,
    O: 1280,
    K: 1,
    s: 1,
    pad: "valid",
    depthwise: false,
  },
  { label: "depthwise 3x3 s1 64x64x32", H: 64, W: 64, C: 32, O: 1, K: 3, s: 1, pad: "same", depthwise: true },
  { label: "depthwise 3x3 s2 64x64x96", H: 64, W: 64, C: 96, O: 1, K: 3, s: 2, pad: "same", depthwise: true },
  {
    label: "depthwise 3x3 s1 16x16x192",
    H: 16,
    W: 16,
    C: 192,
    O: 1,
    K: 3,
    s: 1,
    pad: "same",
    depthwise: true,
  },
  { label: "depthwise 3x3 s1 4x4x960", H: 4, W: 4, C: 960, O: 1, K: 3, s: 1, pad: "same", depthwise: true },
];

const conv = (
  label: string,
  H: number,
  C: number,
  O: number,
  K: number,
  s: number,
  pad: "same" | "valid",
): Shape => ({
  label,
  H,
  W: H,
  C,
  O,
  K,
  s,
  pad,
  depthwise: false,
});

/** ResNet-18 at 64 px: layer1 16x16x64, layer2 8x8x128, layer3 4x4x256, layer4 2x2x512 (see models/resnet.ts). */
const resnetShapes: Shape[] = [
  conv("l1 conv 3x3 s1 16x16x64->64", 16, 64, 64, 3, 1, "same"),
  conv("l2 conv 3x3 s2 18x18x64->128 (padded)", 18, 64, 128, 3, 2, "valid"),
  conv("l2 conv 3x3 s1 8x8x128->128", 8, 128, 128, 3, 1, "same"),
  conv("l3 conv 3x3 s2 10x10x128->256 (padded)", 10, 128, 256, 3, 2, "valid"),
  conv("l3 shortcut 1x1 s2 8x8x128->256", 8, 128, 256, 1, 2, "valid"),
  conv("l3 conv 3x3 s1 4x4x256->256", 4, 256, 256, 3, 1, "same"),
  conv("l4 conv 3x3 s2 6x6x256->512 (padded)", 6, 256, 512, 3, 2, "valid"),
  conv("l4 shortcut 1x1 s2 4x4x256->512", 4, 256, 512, 1, 2, "valid"),
  conv("l4 conv 3x3 s1 2x2x512->512", 2, 512, 512, 3, 1, "same"),
  conv("l4 conv 3x3 s2 4x4x256->512 'same'", 4, 256, 512, 3, 2, "same"),
];

/**
 * Best of N: the machine is shared, and interference only ever adds time, so
 * the minimum is the most repeatable estimate of the kernel's own cost.
 */
function best(xs: number[]): number {
  return Math.min(...xs);
}

function timeKernel(
  backendName: string,
  kernel: string,
  make: () => tf.NamedTensorMap,
  attrs: tf.NamedAttrMap,
  reps: number,
): number {
  const inputs = make();
  const once = () => {
    const out = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor;
    out.dataSync();
    out.dispose();
  };
  if (backendName !== "cpu") once(); // warm-up (XNNPACK operator creation, JIT)
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    once();
    ts.push(performance.now() - t0);
  }
  tf.dispose(Object.values(inputs));
  return best(ts);
}

/** The shipped wasm Conv2DBackpropInput, captured before initBackend replaces it. */
let shippedBackpropInput: tf.KernelConfig | undefined;

function timeShipped(make: () => tf.NamedTensorMap, attrs: tf.NamedAttrMap, reps: number): number {
  if (!shippedBackpropInput) return Number.NaN;
  const inputs = make();
  const backend = tf.engine().backend;
  const run = shippedBackpropInput.kernelFunc;
  const ts: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const out = run({ inputs, backend, attrs }) as tf.TensorInfo;
    if (i > 0) ts.push(performance.now() - t0);
    backend.disposeData(out.dataId);
  }
  tf.dispose(Object.values(inputs));
  return best(ts);
}

async function main(): Promise<void> {
  // @xnn/ml loads the wasm package, whose stock kernels stay registered until
  // initBackend installs ours: the shipped Conv2DBackpropInput can be captured here.
  shippedBackpropInput = tf.getKernel("Conv2DBackpropInput", "wasm");
  const choice = await initBackend("wasm");
  // its setup (binding the C function) only runs for kernels registered at backend init
  shippedBackpropInput?.setupFunc?.(tf.engine().backend);
  await tf.setBackend("cpu");
  await tf.setBackend("wasm");
  console.log(`backend: ${choice.backend} (${choice.reason})`);
  console.log(
    `batch ${BATCH}; wasm: best of ${REPS}; cpu: best of ${CPU_REPS} at batch ${CPU_BATCH}, scaled x${BATCH / CPU_BATCH}\n`,
  );

  if (RESNET_STEP) return resnetSteps();
  if (RESNET) return resnetTable();

  const rows: string[][] = [["shape", "kernel", "wasm ms", "cpu ms", "cpu/wasm", "shipped wasm ms"]];
  for (const sh of shapes) {
    const makeJobs = (batch: number) => {
      const info = tf.backend_util.computeConv2DInfo(
        [batch, sh.H, sh.W, sh.C],
        [sh.K, sh.K, sh.C, sh.O],
        sh.s,
        1,
        sh.pad,
        undefined,
        sh.depthwise,
      );
      const xShape = [batch, sh.H, sh.W, sh.C];
      const fShape = [sh.K, sh.K, sh.C, sh.O];
      const dyShape = [batch, info.outHeight, info.outWidth, info.outChannels];
      const rand = (shape: number[]) => tf.randomUniform(shape, -1, 1);
      const common: Record<string, unknown> = sh.depthwise
        ? { strides: sh.s, pad: sh.pad, dilations: [1, 1] }
        : { strides: sh.s, pad: sh.pad, dataFormat: "NHWC" };
      return [
        {
          kernel: `${prefix}BackpropFilter`,
          make: () => ({ x: rand(xShape), dy: rand(dyShape) }),
          attrs: { ...common, filterShape: fShape } as tf.NamedAttrMap,
        },
        {
          kernel: `${prefix}BackpropInput`,
          make: () => ({ dy: rand(dyShape), filter: rand(fShape) }),
          attrs: { ...common, inputShape: xShape } as tf.NamedAttrMap,
        },
      ];
    };
    const prefix = sh.depthwise ? "DepthwiseConv2dNative" : "Conv2D";
    const jobs = makeJobs(BATCH);
    const cpuJobs = makeJobs(CPU_BATCH);
    for (const [j, job] of jobs.entries()) {
      const cpuJob = cpuJobs[j] as (typeof cpuJobs)[number];
      await tf.setBackend("wasm");
      const w = timeKernel("wasm", job.kernel, job.make, job.attrs, REPS);
      const shipped =
        job.kernel === "Conv2DBackpropInput"
          ? timeShipped(job.make, job.attrs, Math.min(REPS, 3))
          : Number.NaN;
      let c = Number.NaN;
      if (WITH_CPU) {
        await tf.setBackend("cpu");
        c = timeKernel("cpu", cpuJob.kernel, cpuJob.make, cpuJob.attrs, CPU_REPS) * (BATCH / CPU_BATCH);
        await tf.setBackend("wasm");
      }
      const row = [
        sh.label,
        job.kernel.replace(prefix, sh.depthwise ? "Dw" : "Conv"),
        w.toFixed(2),
        Number.isNaN(c) ? "-" : c.toFixed(1),
        Number.isNaN(c) ? "-" : `${(c / w).toFixed(1)}x`,
        Number.isNaN(shipped) ? "" : shipped.toFixed(1),
      ];
      rows.push(row);
      console.log(row.join(" | "));
    }
  }
  console.log("\n| " + rows.map((r) => r.join(" | ")).join(" |\n| ") + " |");
}

/**
 * One kernel call's wall ms and CPU ms, with the inputs made fresh (new dataIds) as in training,
 * where each step's weights and activations are new tensors, so no per-filter cache hits.
 */
function callFresh(kernel: string, make: () => tf.NamedTensorMap, attrs: tf.NamedAttrMap) {
  const inputs = make();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor;
  out.dataSync();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  out.dispose();
  tf.dispose(Object.values(inputs));
  return { wall, cpu: (c.user + c.system) / 1e3 };
}

/**
 * The option COMPARE on and off (the SIMD paths and the no-SIMD ones, or packedGemm with and without
 * FMA), alternating call by call so that load from other processes hits both alike: best wall ms
 * and best CPU ms of each.
 */
function timeOnOff(kernel: string, make: () => tf.NamedTensorMap, attrs: tf.NamedAttrMap, reps: number) {
  const on = { wall: Number.POSITIVE_INFINITY, cpu: Number.POSITIVE_INFINITY };
  const off = { wall: Number.POSITIVE_INFINITY, cpu: Number.POSITIVE_INFINITY };
  for (let i = 0; i <= reps; i++) {
    for (const [change, acc] of [
      [COMPARED[COMPARE][0], on],
      [COMPARED[COMPARE][1], off],
    ] as const) {
      const before = setWasmKernelOptions(change);
      const r = callFresh(kernel, make, attrs);
      setWasmKernelOptions(before);
      if (i === 0) continue; // warm-up
      acc.wall = Math.min(acc.wall, r.wall);
      acc.cpu = Math.min(acc.cpu, r.cpu);
    }
  }
  return { on, off };
}

/** --resnet: each gradient kernel with COMPARE on and off, back to back. */
function resnetTable(): void {
  const [on, off] = { fma: ["fma", "mul+add"], forward: ["tap gemm", "xnnpack"], simd: ["simd", "no-simd"] }[
    COMPARE
  ];
  const rows: string[][] = [
    ["shape", "kernel", `${on} ms`, "cpu ms", "GFLOP/s", `${off} ms`, "cpu ms", "GFLOP/s", "speed-up (cpu)"],
  ];
  const rand = (shape: number[]) => tf.randomUniform(shape, -1, 1);
  for (const sh of resnetShapes.filter((r) => r.label.includes(ONLY))) {
    const xShape = [BATCH, sh.H, sh.W, sh.C];
    const fShape = [sh.K, sh.K, sh.C, sh.O];
    const info = tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      fShape as [number, number, number, number],
      sh.s,
      1,
      sh.pad,
    );
    const dyShape = [BATCH, info.outHeight, info.outWidth, sh.O];
    const gflop = (2 * BATCH * info.outHeight * info.outWidth * sh.K * sh.K * sh.C * sh.O) / 1e9;
    const common = { strides: sh.s, pad: sh.pad, dataFormat: "NHWC" };
    const forward = {
      kernel: "FusedConv2D",
      make: () => ({ x: rand(xShape), filter: rand(fShape), bias: rand([sh.O]) }),
      attrs: { ...common, dilations: [1, 1], activation: "relu" } as unknown as tf.NamedAttrMap,
    };
    const jobs = [
      {
        kernel: "Conv2DBackpropFilter",
        make: () => ({ x: rand(xShape), dy: rand(dyShape) }),
        attrs: { ...common, filterShape: fShape } as unknown as tf.NamedAttrMap,
      },
      {
        kernel: "Conv2DBackpropInput",
        make: () => ({ dy: rand(dyShape), filter: rand(fShape) }),
        attrs: { ...common, inputShape: xShape } as unknown as tf.NamedAttrMap,
      },
    ];
    const stride1InputGradient = jobs.filter((j) => j.kernel === "Conv2DBackpropInput" && sh.s === 1);
    for (const job of COMPARE === "forward" ? [forward, ...stride1InputGradient] : jobs) {
      const { on, off } = timeOnOff(job.kernel, job.make, job.attrs, REPS);
      const row = [
        sh.label,
        job.kernel.replace("Conv2D", ""),
        on.wall.toFixed(1),
        on.cpu.toFixed(1),
        (gflop / (on.wall / 1e3)).toFixed(1),
        off.wall.toFixed(1),
        off.cpu.toFixed(1),
        (gflop / (off.wall / 1e3)).toFixed(1),
        `${(off.cpu / on.cpu).toFixed(2)}x`,
      ];
      rows.push(row);
      console.log(row.join(" | "));
    }
  }
  console.log("\n| " + rows.map((r) => r.join(" | ")).join(" |\n| ") + " |");
}

/** --resnet-step: ResNet-18 training steps, new kernels and old alternating. */
async function resnetSteps(): Promise<void> {
  const { model } = await buildModel({
    arch: "resnet18",
    imageSize: 64,
    numClasses: 3,
    dropout: 0,
    seed: 0,
    headUnits: [],
  });
  const x = tf.randomUniform([BATCH, 64, 64, 3], -1, 1);
  const y = tf.oneHot(tf.randomUniform([BATCH], 0, 3, "int32"), 3).toFloat();
  const step = () => {
    // fresh weight buffers (same values) before every step, as the optimizer's update makes them in
    // training, so no per-filter cache (ours, XNNPACK's packed weights) hits
    for (const w of model.trainableWeights) {
      const fresh = tf.add(w.read(), 0);
      w.write(fresh);
      fresh.dispose();
    }
    const c0 = process.cpuUsage();
    const { value, grads } = tf.variableGrads(() =>
      tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor),
    );
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1e3;
  };
  const modes: Array<[string, Partial<WasmKernelOptions>]> = [
    ["new (defaults)", {}],
    ["old (fma off, forward on XNNPACK)", { fma: false, forwardGemmMaxMap: 0 }],
  ];
  const times = modes.map(() => [] as number[]);
  for (let i = 0; i <= REPS; i++) {
    for (const [m, [, change]] of modes.entries()) {
      const before = setWasmKernelOptions(change);
      const ms = step();
      setWasmKernelOptions(before);
      if (i > 0) times[m]?.push(ms);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
  for (const [m, [label]] of modes.entries()) {
    const ts = times[m] as number[];
    console.log(
      `${label}: best ${best(ts).toFixed(0)} CPU ms, median ${median(ts).toFixed(0)} CPU ms per step (batch ${BATCH})`,
    );
  }
  const [a, b] = times as [number[], number[]];
  console.log(
    `old / new: best ${(best(b) / best(a)).toFixed(2)}x, median ${(median(b) / median(a)).toFixed(2)}x`,
  );
  tf.dispose([x, y]);
  model.dispose();
}

await main();
