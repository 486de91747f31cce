import { type ChildProcess, spawn } from "node:child_process";
import type { Logger } from "@xnn/shared";

export interface RestartPolicy {
  /** Give a slot up after this many crashes within `windowMs`. */
  maxCrashes: number;
  windowMs: number;
  /** Delay before the first restart; doubled for each further crash in the window, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  maxCrashes: 5,
  windowMs: 10 * 60_000,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
};

/** Exit code of a worker that refused its configuration (index.ts `fail`): a restart cannot help. */
const CONFIG_ERROR_EXIT = 2;

interface Slot {
  label: string;
  env: Record<string, string>;
  child: ChildProcess | null;
  crashes: number[];
  timer: NodeJS.Timeout | null;
  done: boolean;
}

/**
 * One worker process per GPU (pinned with CUDA_VISIBLE_DEVICES) or per CPU core: a TensorFlow.js
 * process uses one device well, and a crash takes down one worker, not the host's whole capacity.
 * A child that dies (a native abort, an OOM kill) is restarted after an exponentially growing delay;
 * its job was stalled and is resumed by whichever worker takes it. A slot that keeps crashing is
 * given up, with a log line that says so, and the others keep running. Resolves, once every slot
 * has ended, with the worst exit code.
 */
export function superviseWorkers(
  slots: { label: string; env: Record<string, string> }[],
  entry: string,
  logger: Logger,
  policy: RestartPolicy = DEFAULT_RESTART_POLICY,
): Promise<number> {
  let stopping = 0;
  let worst = 0;
  let resolveAll: (code: number) => void = () => {};
  const all = new Promise<number>((resolve) => {
    resolveAll = resolve;
  });
  const state: Slot[] = slots.map((s) => ({ ...s, child: null, crashes: [], timer: null, done: false }));

  const finish = (slot: Slot, code: number) => {
    slot.done = true;
    worst = Math.max(worst, code);
    if (state.every((s) => s.done)) resolveAll(worst);
  };

  const start = (slot: Slot) => {
    slot.timer = null;
    const child = spawn(process.execPath, [...process.execArgv, entry], {
      env: { ...process.env, ...slot.env, XNN_SUPERVISED: "1" },
      stdio: "inherit",
    });
    slot.child = child;
    logger.info(
      { pid: child.pid, slot: slot.label, restarts: slot.crashes.length },
      "worker process started",
    );
    child.on("exit", (code, signal) => {
      slot.child = null;
      logger.info({ slot: slot.label, pid: child.pid, code, signal }, "worker process exited");
      if (stopping > 0) return finish(slot, code ?? 1);
      if (code === CONFIG_ERROR_EXIT) {
        logger.error(
          { slot: slot.label, code },
          "worker process refused its configuration; not restarting it",
        );
        return finish(slot, code);
      }
      const now = Date.now();
      slot.crashes = [...slot.crashes.filter((t) => now - t < policy.windowMs), now];
      if (slot.crashes.length >= policy.maxCrashes) {
        logger.error(
          { slot: slot.label, crashes: slot.crashes.length, windowMs: policy.windowMs, code, signal },
          `giving up on worker slot ${slot.label}: it crashed ${slot.crashes.length} times within ${Math.round(policy.windowMs / 1000)} s`,
        );
        return finish(slot, code ?? 1);
      }
      const delayMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (slot.crashes.length - 1));
      logger.warn(
        { slot: slot.label, code, signal, crashes: slot.crashes.length, delayMs },
        "worker process died; restarting it",
      );
      slot.timer = setTimeout(() => start(slot), delayMs);
    });
  };

  const forward = (signal: NodeJS.Signals) => {
    stopping++;
    for (const slot of state) {
      if (slot.timer) {
        clearTimeout(slot.timer);
        slot.timer = null;
        finish(slot, 0);
      }
      slot.child?.kill(stopping > 1 ? "SIGKILL" : signal);
    }
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  for (const slot of state) start(slot);
  return all;
}
