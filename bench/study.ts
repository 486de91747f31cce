import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createPrisma } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { submitSweep } from "@xnn/orchestration";
import { createRedis, loadSweepText } from "@xnn/shared";
import { FlowProducer } from "bullmq";
import { spawnWorker, waitFor } from "../apps/gpu-worker/src/testing/workerHarness";
import { parseTorchAlloc, torchEnv } from "./lib/torchAlloc";

// `pnpm bench study [--processes N] [--n 1000] [--size 64] [--epochs 10] [--ft-layers 15]
//   [--models mobilenet_v2,resnet18] [--skip-torch] [--torch-once] [--torch-alloc plain|steady]`
// The study's sweep shape (models x {none, balanced} x FE then FT of the last 15 layers, at most
// --epochs per stage, explanation probes off) on `pnpm data:synth` output, through submitSweep and
// real `pnpm worker` processes (one per core), against bench/study_torch.py: the same recipe in
// PyTorch, the runs one after another, every core. Prints each side's wall time, per-run test F1,
// each worker process's peak memory, the machine's load, and the ratio torch / xnn (> 1: xnn first).
// PyTorch runs twice, before and after xnn, and the ratio uses their mean (see runTorch's caller).
const { values } = parseArgs({
  options: {
    processes: { type: "string", default: String(os.availableParallelism()) },
    n: { type: "string", default: "1000" },
    size: { type: "string", default: "64" },
    epochs: { type: "string", default: "10" },
    batch: { type: "string", default: "32" },
    "ft-layers": { type: "string", default: "15" },
    models: { type: "string", default: "mobilenet_v2,resnet18" },
    "skip-torch": { type: "boolean", default: false },
    "torch-once": { type: "boolean", default: false },
    // PyTorch's allocator: "plain" (a plain script) or "steady" (lib/torchAlloc.ts)
    "torch-alloc": { type: "string", default: "plain" },
  },
});
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const work = path.join(root, ".xnn", "bench-study");
const size = Number(values.size);
const epochs = Number(values.epochs);
const batch = Number(values.batch);
const ftLayers = Number(values["ft-layers"]);
const models = values.models.split(",");
const torchAlloc = parseTorchAlloc(values["torch-alloc"], "study");
const processes = Number(values.processes);
const FE_LR = 1e-3;
const FT_LR = 1e-4;
const WEIGHT_DECAY = 1e-4;
const SEED = 7;

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
console.log(`machine: ${os.availableParallelism()} cores, load ${load()} (1/5/15 min) before the run`);

// The data set, made once and reused (the same n/size/seed renders the same images).
const dataDir = path.join(work, `data-n${values.n}-s${size}`);
if (!existsSync(path.join(dataDir, "synth.json"))) {
  mkdirSync(work, { recursive: true });
  await run("pnpm", [
    "-s",
    "data:synth",
    "--out",
    dataDir,
    "--n",
    values.n,
    "--size",
    String(size),
    "--force",
  ]);
}

// The base configs of the sweep: the study's recipe at this bench's size.
const confDir = path.join(work, "conf");
rmSync(confDir, { recursive: true, force: true });
mkdirSync(path.join(confDir, "study-bench"), { recursive: true });
for (const arch of models) {
  for (const stage of ["fe", "ft"] as const) {
    const config = {
      task: "bench-study",
      seed: SEED,
      data: {
        dir: path.relative(root, dataDir),
        imageSize: size,
        augment: false,
        cacheFeatures: stage === "fe",
      },
      model: { arch, dropout: 0.2, pretrainedDir: null },
      stage: stage === "fe" ? { kind: "fe" } : { kind: "ft", trainableLayers: ftLayers },
      classWeighting: "none",
      train: {
        batchSize: batch,
        epochs,
        learningRate: stage === "fe" ? FE_LR : FT_LR,
        weightDecay: WEIGHT_DECAY,
        earlyStopping: { patience: 3 },
        plateau: { factor: 0.2, patience: 2, minLr: 1e-6 },
      },
      eval: { average: "weighted", probePerClass: 0 },
    };
    // JSON is YAML: the sweep loader reads it as a base file.
    writeFileSync(
      path.join(confDir, "study-bench", `${arch}_${stage}.yaml`),
      JSON.stringify(config, null, 2),
    );
  }
}
const sweepText = `name: bench-study
base: study-bench
axes:
  model: [${models.join(", ")}]
  classWeighting: [none, balanced]
  stage: [fe, ft]
`;

// PyTorch runs before and after xnn (unless --skip-torch): on a shared or virtual machine one half
// can land on a slow stretch (PyTorch's wall time for this sweep ranged 227-347 s within an hour
// here), so the ratio is printed against each PyTorch run and against their mean, and the spread
// of the two PyTorch runs says how far to trust it. --torch-once runs PyTorch only after xnn.
const withTorch = !values["skip-torch"];
const torchBefore = withTorch && !values["torch-once"] ? await runTorch("before xnn") : undefined;

const xnn = await runXnn();
console.log(`\nxnn: ${xnn.runs.length} runs on ${processes} worker processes in ${xnn.seconds.toFixed(1)} s`);
for (const r of xnn.runs) console.log(`  ${r.key.padEnd(28)} ${r.status.padEnd(9)} test F1 ${fmt(r.testF1)}`);
for (const [i, mb] of xnn.peakMb.entries())
  console.log(`  worker ${i} peak memory (VmHWM): ${mb.toFixed(0)} MB`);

if (withTorch) {
  const torchAfter = await runTorch("after xnn");
  const torchRuns = [torchBefore, torchAfter].filter((t): t is number => t !== undefined);
  const mean = torchRuns.reduce((x, y) => x + y, 0) / torchRuns.length;
  const ratio = (t: number) => (t / xnn.seconds).toFixed(2);
  console.log("");
  if (torchBefore !== undefined)
    console.log(
      `PyTorch spread: ${torchBefore.toFixed(1)} s before, ${torchAfter.toFixed(1)} s after (${((Math.abs(torchAfter - torchBefore) / Math.min(torchAfter, torchBefore)) * 100).toFixed(0)}% apart); ratio against each ${ratio(torchBefore)} / ${ratio(torchAfter)}`,
    );
  console.log(
    `ratio PyTorch / xnn wall time: ${ratio(mean)}${torchRuns.length > 1 ? " (PyTorch's mean)" : ""} (>= 1: xnn finishes first; target 1.0, floor 0.6); load after ${load()}`,
  );
}

/** One run of bench/study_torch.py on the same data; prints its runs and returns its wall time. */
async function runTorch(when: string): Promise<number> {
  console.log(
    `\nPyTorch ${when} (bench/study_torch.py, sequential, ${os.availableParallelism()} threads, allocator ${torchAlloc}), load ${load()}`,
  );
  const out = await run(
    "/usr/bin/python3",
    [
      path.join(root, "bench", "study_torch.py"),
      "--data",
      dataDir,
      "--size",
      String(size),
      "--epochs",
      String(epochs),
      "--batch",
      String(batch),
      "--fe-lr",
      String(FE_LR),
      "--ft-lr",
      String(FT_LR),
      "--weight-decay",
      String(WEIGHT_DECAY),
      "--ft-layers",
      String(ftLayers),
      "--models",
      models.join(","),
    ],
    torchEnv(torchAlloc),
  );
  const torch = JSON.parse(out.trim().split("\n").at(-1) as string) as {
    seconds: number;
    runs: Array<{ key: string; testF1: number; epochs: number; seconds: number }>;
  };
  console.log(`PyTorch ${when}: ${torch.runs.length} runs in ${torch.seconds.toFixed(1)} s`);
  for (const r of torch.runs)
    console.log(
      `  ${r.key.padEnd(28)} ${r.epochs} epochs ${r.seconds.toFixed(1).padStart(6)} s  test F1 ${fmt(r.testF1)}`,
    );
  return torch.seconds;
}

function fmt(v: number | null | undefined): string {
  return v == null ? "-" : v.toFixed(3);
}

async function runXnn() {
  const db = await createTestDatabase(testDatabaseServerUrl());
  const prisma = createPrisma(db.url);
  const redis = createRedis(testRedisUrl(), "worker");
  const prefix = testQueuePrefix();
  const flows = new FlowProducer({ connection: redis, prefix });
  const artifactDir = path.join(work, "artifacts");
  rmSync(artifactDir, { recursive: true, force: true });
  const workers: ReturnType<typeof spawnWorker>[] = [];
  try {
    const loaded = loadSweepText(sweepText, { baseDir: confDir });
    // Workers first, so that start-up (backend load) is not counted as time to result for the
    // first run but is for the sweep: the clock starts at submission, as a user's does.
    for (let i = 0; i < processes; i++)
      workers.push(
        spawnWorker({
          DATABASE_URL: db.url,
          REDIS_URL: testRedisUrl(),
          XNN_QUEUE_PREFIX: prefix,
          ARTIFACT_DIR: artifactDir,
          XNN_DATA_ROOT: root,
          XNN_LOG_LEVEL: "warn",
        }),
      );
    await waitFor(
      "the worker processes to register",
      async () => (await prisma.worker.count()) >= processes,
      300_000,
      500,
    );
    const t0 = performance.now();
    const { sweepId } = await submitSweep({ prisma, flows }, loaded);
    let lastDone = -1;
    await waitFor(
      "every run to end",
      async () => {
        const done = await prisma.run.count({
          where: { sweepId, status: { in: ["succeeded", "failed", "cancelled"] } },
        });
        if (done !== lastDone) {
          lastDone = done;
          process.stdout.write(
            `  ${done}/${loaded.runs.length} runs ended after ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
          );
        }
        return done === loaded.runs.length;
      },
      7_200_000,
      1000,
    );
    const seconds = (performance.now() - t0) / 1000;
    const peakMb = workers.map((w) => peakRssMb(w.child.pid));
    const runs = await prisma.run.findMany({
      where: { sweepId },
      select: { key: true, status: true, testF1: true },
      orderBy: { key: "asc" },
    });
    // Who ran what when: idle cores show up as gaps.
    const timeline = await prisma.run.findMany({
      where: { sweepId },
      select: { id: true, key: true, workerId: true, startedAt: true, finishedAt: true },
      orderBy: { startedAt: "asc" },
    });
    const lastEpoch = new Map(
      (
        await prisma.epochMetric.groupBy({
          by: ["runId"],
          where: { runId: { in: timeline.map((r) => r.id) } },
          _max: { epoch: true },
        })
      ).map((g) => [g.runId, g._max.epoch ?? 0]),
    );
    const submitted = Date.now() - seconds * 1000;
    const rel = (d: Date | null) => (d ? ((d.getTime() - submitted) / 1000).toFixed(0).padStart(5) : "    -");
    const workerNames = [...new Set(timeline.map((r) => r.workerId))];
    console.log("\ntimeline (s after submission)  worker  start    end  epochs");
    for (const r of timeline)
      console.log(
        `  ${r.key.padEnd(28)} w${workerNames.indexOf(r.workerId)}   ${rel(r.startedAt)}  ${rel(r.finishedAt)}  ${lastEpoch.get(r.id) ?? 0}`,
      );
    return { seconds, runs, peakMb };
  } finally {
    for (const w of workers) w.child.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.exited));
    await flows.close();
    redis.disconnect();
    await prisma.$disconnect();
    await db.drop();
  }
}

/** Peak resident memory of a process (the worker's training threads included), from /proc. */
function peakRssMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: root,
      env: env ?? process.env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}`)),
    );
  });
}
