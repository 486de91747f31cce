import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import path from "node:path";

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A long-running child process (database, Redis, API, worker) whose output goes to a log file. */
export interface ChildService {
  name: string;
  pid: number;
  logFile: string;
  /** Settles when the process has exited, for whatever reason. */
  exited: Promise<ChildExit>;
  running(): boolean;
  /** Sends `signal`; after `timeoutMs` without an exit, SIGKILL. Resolves once it is gone. */
  stop(options?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<ChildExit>;
  /** SIGKILL now (the second Ctrl-C). */
  kill(): void;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
}

/** Every child still running, wherever it was started: what a forced exit must not leave behind. */
const live = new Set<ChildService>();

/** SIGKILL every child this process started that is still running (detached children outlive us). */
export function killAllChildren(): void {
  for (const child of live) child.kill();
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function spawnService(options: SpawnOptions): ChildService {
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  // Truncated per start: readiness checks look for lines this run wrote, not an earlier one's.
  const fd = openSync(options.logFile, "w");
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", fd, fd],
      // Own process group: a Ctrl-C in the terminal reaches only the demo, which then stops the
      // services in order (workers before the database they write to) instead of all at once.
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  let exit: ChildExit | null = null;
  let spawnError: Error | null = null;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
    // Only a failed spawn (missing binary) lands here; there is no "exit" event then.
    child.once("error", (err) => {
      spawnError = err;
      exit = { code: 127, signal: null };
      resolve(exit);
    });
  });

  const service: ChildService = {
    name: options.name,
    pid: child.pid ?? -1,
    logFile: options.logFile,
    exited,
    running: () => exit === null,
    async stop({ signal = "SIGTERM", timeoutMs = 10_000 } = {}) {
      if (exit) return exit;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      if (!exit) child.kill("SIGKILL");
    },
    tail(lines = 15) {
      if (spawnError) return `cannot start ${options.command}: ${spawnError.message}`;
      try {
        return readFileSync(options.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
      } catch {
        return "";
      }
    },
  };
  live.add(service);
  void exited.then(() => live.delete(service));
  return service;
}

/**
 * Polls `ready` until it is true. Fails early, with the child's log, if the child exits first: a
 * crashed service should not be reported as a timeout.
 */
export async function waitUntilReady(
  service: ChildService,
  ready: () => Promise<boolean>,
  options: { timeoutMs: number; what: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (!service.running()) {
      const { code, signal } = await service.exited;
      throw new Error(
        `${service.name} exited (${signal ?? `code ${code}`}) before ${options.what}; its log ${service.logFile} ends with:\n${service.tail()}`,
      );
    }
    if (await ready()) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${service.name} did not become ready (${options.what}) within ${Math.round(options.timeoutMs / 1000)} s; its log ${service.logFile} ends with:\n${service.tail()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}
