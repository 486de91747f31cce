import { type ChildProcess, spawn } from "node:child_process";
import type { Logger } from "@xnn/shared";

/**
 * One worker process per GPU (pinned with CUDA_VISIBLE_DEVICES) or per CPU core: a TensorFlow.js
 * process uses one device well, and a crash takes down one worker, not the host's whole capacity.
 */
export function superviseWorkers(
  slots: { label: string; env: Record<string, string> }[],
  entry: string,
  logger: Logger,
): Promise<number> {
  const children = new Map<ChildProcess, string>();
  for (const slot of slots) {
    const child = spawn(process.execPath, [...process.execArgv, entry], {
      env: { ...process.env, ...slot.env, XNN_SUPERVISED: "1" },
      stdio: "inherit",
    });
    children.set(child, slot.label);
    logger.info({ pid: child.pid, slot: slot.label }, "worker process started");
  }
  let signals = 0;
  const forward = (signal: NodeJS.Signals) => {
    signals++;
    for (const child of children.keys()) child.kill(signals > 1 ? "SIGKILL" : signal);
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  return new Promise((resolve) => {
    let worst = 0;
    for (const [child, label] of children) {
      child.on("exit", (code, signal) => {
        logger.info({ slot: label, code, signal }, "worker process exited");
        worst = Math.max(worst, code ?? 1);
        children.delete(child);
        if (children.size === 0) resolve(worst);
      });
    }
  });
}
