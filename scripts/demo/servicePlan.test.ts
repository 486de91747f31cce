import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { repoRoot, TSX_LOADER } from "./paths";
import { MissingRedisError, planServices } from "./servicePlan";

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "xnn-demo-plan-"));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("planServices", () => {
  it("uses the given URLs and starts nothing", () => {
    const plan = planServices({ DATABASE_URL: "postgresql://u@h/db", REDIS_URL: "redis://h:1", PATH: "" });
    expect(plan).toEqual({
      postgres: { kind: "external", url: "postgresql://u@h/db" },
      redis: { kind: "external", url: "redis://h:1" },
    });
  });

  it("starts PGlite and the redis-server found on PATH", () => {
    const plan = planServices({ PATH: "/nonexistent:/usr/bin:/usr/local/bin" });
    expect(plan.postgres).toEqual({ kind: "pglite" });
    // Only meaningful where redis-server is installed; the no-Redis case is tested below.
    if (plan.redis.kind === "redis-server") expect(path.basename(plan.redis.bin)).toBe("redis-server");
  });

  it("refuses without REDIS_URL and without redis-server on PATH", () => {
    expect(() => planServices({ PATH: tempDir() })).toThrow(MissingRedisError);
  });
});

describe("pnpm demo without Redis", () => {
  it("exits non-zero at once with how to get Redis, creating nothing", async () => {
    const cwd = tempDir();
    const home = path.join(cwd, ".xnn");
    const emptyBin = path.join(cwd, "bin-without-redis");
    const started = Date.now();
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      const child = spawn(
        process.execPath,
        ["--import", TSX_LOADER, path.join(repoRoot, "scripts", "demo", "index.ts"), "--exit"],
        {
          cwd,
          // No REDIS_URL, no DATABASE_URL, and a PATH where no redis-server can be found.
          env: { HOME: process.env.HOME, PATH: emptyBin, XNN_DEMO_HOME: home, NODE_OPTIONS: "" },
        },
      );
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        err += d;
      });
      child.on("exit", (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    expect(code).toBe(1);
    expect(stderr).toContain("no REDIS_URL and no redis-server on PATH");
    expect(stderr).toContain("apt-get install -y redis-server");
    expect(stderr).toContain("brew install redis");
    expect(stderr).toContain("docker compose -f docker/compose.yaml up -d redis");
    expect(stderr).toContain("REDIS_URL=redis://");
    expect(stdout).toBe("");
    // Nothing created: not the demo home, not anything else in the working directory.
    expect(readdirSync(cwd)).toEqual([]);
    // "At once": only the time to start node and load the script (generous for a loaded machine).
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
