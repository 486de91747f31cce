import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ArtifactStoreUnavailableError } from "@xnn/artifacts";
import { createLogger, EnvError } from "@xnn/shared";
import { checkHost } from "./check/hostCheck";
import { parseCheckEnv, parseWorkerEnv } from "./env";
import { detectGpus } from "./gpus";
import { installShutdown } from "./shutdown";
import { startWorker } from "./startWorker";
import { superviseWorkers } from "./supervisor";

const USAGE = `Usage: pnpm worker [--gpus 0,1|all] [--processes N|auto] [--check]

Trains queued runs. Without options: one worker process on the best available backend.
  --gpus 0,1 | all    one process per listed GPU (CUDA hosts), each pinned with CUDA_VISIBLE_DEVICES
  --processes N|auto  N processes on CPU (auto: one per core; a TensorFlow.js process uses one core)
  --check             print what this host will run on and why (GPUs, CUDA libraries, TensorFlow.js
                      packages, one training step per device) and exit; non-zero when a device asked
                      for (--gpus) or the backend asked for (XNN_BACKEND) cannot train. Needs no
                      DATABASE_URL or REDIS_URL.

Environment: DATABASE_URL, REDIS_URL (required); ARTIFACT_URL (file:///abs/path or s3://bucket/prefix;
unset: ARTIFACT_DIR), ARTIFACT_DIR (.xnn/artifacts), XNN_ARTIFACT_CACHE_DIR (.xnn/artifact-cache),
XNN_ARTIFACT_CACHE_BYTES (10 GiB), AWS_ENDPOINT_URL/AWS_REGION/AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, XNN_DATA_ROOT (.),
XNN_BACKEND (auto|tensorflow|wasm|cpu), XNN_WORKER_CONCURRENCY (1), XNN_HEARTBEAT_MS (5000),
XNN_LOCK_DURATION_MS (30000), XNN_STALLED_INTERVAL_MS (15000), XNN_SHUTDOWN_TIMEOUT_MS (60000),
XNN_CRASH_BUDGET (20), XNN_THREAD_START_TIMEOUT_MS (120000),
XNN_QUEUE_PREFIX (bull), XNN_EXPLAIN (1: also serve the explain queue), XNN_EXPLAIN_BACKEND
(the training backend; wasm beside tensorflow), XNN_EXPLAIN_MODEL_BYTES (512 MiB), XNN_LOG_LEVEL (info); with --gpus/--processes, a dead worker process is
restarted after XNN_RESTART_DELAY_MS (1000), doubling up to XNN_RESTART_MAX_DELAY_MS (60000), and
given up after XNN_RESTART_MAX_CRASHES (5) crashes within XNN_RESTART_WINDOW_MS (600000).`;

function fail(msg: string): never {
  process.stderr.write(`${msg}\n`);
  process.exit(2);
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      gpus: { type: "string" },
      processes: { type: "string" },
      check: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}
try {
  args = parse();
} catch (err) {
  fail(`${(err as Error).message}\n\n${USAGE}`);
}
if (args.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

if (args.values.check) {
  let backend: ReturnType<typeof parseCheckEnv>["XNN_BACKEND"];
  try {
    backend = parseCheckEnv().XNN_BACKEND;
  } catch (err) {
    if (err instanceof EnvError) fail(err.message);
    throw err;
  }
  const ok = await checkHost({ gpus: args.values.gpus, backend }, (line) =>
    process.stdout.write(`${line}\n`),
  );
  process.exit(ok ? 0 : 1);
}

let env: ReturnType<typeof parseWorkerEnv>;
try {
  env = parseWorkerEnv();
} catch (err) {
  if (err instanceof EnvError) fail(err.message);
  throw err;
}
const logger = createLogger("gpu-worker", env.XNN_LOG_LEVEL);
const entry = fileURLToPath(import.meta.url);
const restartPolicy = {
  maxCrashes: env.XNN_RESTART_MAX_CRASHES,
  windowMs: env.XNN_RESTART_WINDOW_MS,
  baseDelayMs: env.XNN_RESTART_DELAY_MS,
  maxDelayMs: env.XNN_RESTART_MAX_DELAY_MS,
};

if (args.values.gpus !== undefined && process.env.XNN_SUPERVISED !== "1") {
  const detected = await detectGpus();
  const wanted =
    args.values.gpus === "all"
      ? detected.map((g) => g.index)
      : args.values.gpus.split(",").map((s) => Number(s.trim()));
  if (wanted.length === 0 || wanted.some((i) => !Number.isInteger(i) || i < 0)) {
    fail(
      `--gpus ${args.values.gpus}: ${detected.length === 0 ? "nvidia-smi found no GPU on this host" : "expected GPU indices like 0,1 or all"}`,
    );
  }
  const code = await superviseWorkers(
    wanted.map((i) => ({
      label: `gpu${i}`,
      env: {
        CUDA_VISIBLE_DEVICES: String(i),
        XNN_BACKEND: env.XNN_BACKEND === "auto" ? "tensorflow" : env.XNN_BACKEND,
      },
    })),
    entry,
    logger,
    restartPolicy,
  );
  process.exit(code);
} else if (args.values.processes !== undefined && process.env.XNN_SUPERVISED !== "1") {
  const n = args.values.processes === "auto" ? os.availableParallelism() : Number(args.values.processes);
  if (!Number.isInteger(n) || n < 1)
    fail(`--processes ${args.values.processes}: expected a positive integer or auto`);
  const code = await superviseWorkers(
    Array.from({ length: n }, (_, i) => ({ label: `cpu${i}`, env: {} })),
    entry,
    logger,
    restartPolicy,
  );
  process.exit(code);
} else {
  const worker = await startWorker(env).catch((err: Error) => {
    // A store it cannot use is a configuration error (exit 2): naming ARTIFACT_URL is the fix.
    if (err instanceof ArtifactStoreUnavailableError) fail(err.message);
    // Most often the backend: XNN_BACKEND=tensorflow on a host without libtensorflow or CUDA.
    logger.fatal({ err: err.message }, "worker could not start (`pnpm worker --check` says why)");
    process.exit(1);
  });
  installShutdown(() => worker.close(), {
    timeoutMs: env.XNN_SHUTDOWN_TIMEOUT_MS,
    log: (msg) => logger.info(msg),
  });
}
