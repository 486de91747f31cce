import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../../..");
const entries = {
  /** The same entry as `pnpm worker`. */
  tfjs: path.join(here, "../index.ts"),
  /** Jobs run on the no-op trainer (noopWorker.ts): for queue benchmarks. */
  noop: path.join(here, "noopWorker.ts"),
};

/** One JSON log line of a worker process (pino: `msg`, the child logger's bindings, the fields). */
export type LogLine = Record<string, unknown> & { msg?: string; runId?: string };

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  /** The JSON log lines written so far, in order (other output skipped). */
  lines: () => LogLine[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a real worker process (the same entry as `pnpm worker`, or with `trainer: "noop"` one whose
 * jobs train nothing). Node loads tsx as a hook rather than through the tsx CLI, which would put a
 * second process in between: a SIGKILL must reach the process that holds the job. It serves no
 * explanations unless `env` says `XNN_EXPLAIN: "1"`: the tests of training do not need a second
 * backend starting in every process they spawn.
 */
export function spawnWorker(
  env: Record<string, string>,
  opts: { trainer?: keyof typeof entries } = {},
): WorkerProcess {
  const child = spawn(process.execPath, ["--import", "tsx", entries[opts.trainer ?? "tfjs"]], {
    cwd: repoRoot,
    env: { ...process.env, XNN_LOG_LEVEL: "info", XNN_EXPLAIN: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const lines = () =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as LogLine];
        } catch {
          return []; // a line still being written
        }
      });
  return { child, output: () => out, lines, exited };
}

/**
 * waitFor while worker processes run: on a timeout the error carries the end of each one's output,
 * which is where the reason usually is.
 */
export function waitForWorkers<T>(
  workers: WorkerProcess | WorkerProcess[],
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs?: number,
): Promise<T> {
  return waitFor(what, check, timeoutMs, everyMs).catch((err: Error) => {
    const tails = [workers].flat().map((w) => w.output().slice(-3000));
    throw new Error(`${err.message}\n${tails.join("\n---\n")}`);
  });
}

/** Until the worker process has logged "worker ready" (its queues are served). */
export function waitForWorkerReady(worker: WorkerProcess, timeoutMs: number): Promise<true> {
  return waitForWorkers(
    worker,
    "the worker to be ready",
    async () => worker.output().includes('"msg":"worker ready"') || undefined,
    timeoutMs,
  );
}

/** Polls `check` until it returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
