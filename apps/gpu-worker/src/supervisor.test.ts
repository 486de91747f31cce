import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot, waitFor } from "./testing/workerHarness";

// The real `pnpm worker --processes 1`: a supervisor with one real worker child (real Postgres and
// Redis), whose child is killed for real.
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const spawned: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase(testDatabaseServerUrl());
});
afterAll(async () => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await db?.drop();
});

interface LogLine {
  msg: string;
  pid?: number;
  slot?: string;
  [k: string]: unknown;
}

function supervise(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(repoRoot, "apps/gpu-worker/src/index.ts"), "--processes", "1"],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        REDIS_URL: testRedisUrl(),
        XNN_QUEUE_PREFIX: testQueuePrefix(),
        XNN_BACKEND: "wasm",
        XNN_LOG_LEVEL: "info",
        XNN_HEARTBEAT_MS: "500",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  spawned.push(child);
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const lines = (): LogLine[] =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogLine);
  const started = () => lines().filter((l) => l.msg === "worker process started");
  const ready = () => lines().filter((l) => l.msg === "worker ready");
  return { child, exited, lines, started, ready, output: () => out };
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("superviseWorkers", () => {
  it("restarts a worker process that dies, with a growing delay, and gives up after repeated crashes", async () => {
    const s = supervise({
      XNN_RESTART_MAX_CRASHES: "3",
      XNN_RESTART_WINDOW_MS: "600000",
      XNN_RESTART_DELAY_MS: "200",
    });
    const pids: number[] = [];
    for (const n of [1, 2, 3]) {
      await waitFor(`worker process ${n} to be ready`, async () => s.ready().length === n, 60_000).catch(
        (e) => {
          throw new Error(`${e.message}\n${s.output()}`);
        },
      );
      const pid = s.started()[n - 1]!.pid!;
      pids.push(pid);
      process.kill(pid, "SIGKILL");
      if (n < 3)
        await waitFor(
          `worker process ${n} to be restarted`,
          async () => s.started().length === n + 1,
          60_000,
        );
    }
    const code = await s.exited;
    expect(new Set(pids).size).toBe(3);
    for (const pid of pids) expect(pidAlive(pid)).toBe(false);
    const died = s.lines().filter((l) => l.msg === "worker process died; restarting it");
    expect(died.map((l) => [l.slot, l.signal, l.crashes, l.delayMs])).toEqual([
      ["cpu0", "SIGKILL", 1, 200],
      ["cpu0", "SIGKILL", 2, 400],
    ]);
    const gaveUp = s.lines().find((l) => l.msg.startsWith("giving up on worker slot cpu0"));
    expect(gaveUp?.msg, s.output()).toBe("giving up on worker slot cpu0: it crashed 3 times within 600 s");
    expect(s.started()).toHaveLength(3);
    expect(code).not.toBe(0);
  }, 180_000);

  it("SIGTERM stops the workers without restarting them and exits 0", async () => {
    const s = supervise({ XNN_RESTART_DELAY_MS: "200" });
    await waitFor("the worker to be ready", async () => s.ready().length === 1, 60_000).catch((e) => {
      throw new Error(`${e.message}\n${s.output()}`);
    });
    s.child.kill("SIGTERM");
    expect(await s.exited, s.output()).toBe(0);
    expect(s.started()).toHaveLength(1);
    expect(s.lines().some((l) => l.msg === "worker process died; restarting it")).toBe(false);
  }, 120_000);
});
