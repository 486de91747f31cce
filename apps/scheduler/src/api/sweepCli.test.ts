import { execFile } from "node:child_process";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import type { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONF_DIR, createHarness, createTestServer, type Harness } from "./testing/harness";

const root = path.resolve(CONF_DIR, "..");
const tsx = path.join(root, "node_modules/.bin/tsx");
const cli = path.resolve(CONF_DIR, "../apps/scheduler/src/cli/sweep.ts");

let h: Harness;
let queue: Queue;
let listening: Server;
let closeServer: () => Promise<void>;
let apiUrl: string;

async function sweep(args: string[], env: Record<string, string>) {
  try {
    // No DATABASE_URL or REDIS_URL: with --api the CLI must need neither.
    const { DATABASE_URL: _d, REDIS_URL: _r, ...rest } = process.env;
    const { stdout, stderr } = await promisify(execFile)(tsx, [cli, ...args], {
      cwd: root,
      env: { ...rest, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  h = await createHarness();
  const t = await createTestServer(h);
  queue = t.queue;
  listening = t.server.listen(0, "127.0.0.1");
  await new Promise((resolve) => listening.once("listening", resolve));
  apiUrl = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  closeServer = t.close;
});

afterAll(async () => {
  await new Promise((resolve) => listening?.close(resolve));
  await closeServer?.();
  await h?.close();
});

describe("pnpm sweep --api", () => {
  it("submits through POST /api/sweeps; a second submission creates nothing", async () => {
    const first = await sweep(["conf/demo.yaml", "--api", apiUrl, "--token", h.tokens.operator], {});
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/Created sweep xray-demo-\w+ via .*: 12 runs, 12 jobs queued/);
    expect(await queue.count()).toBe(12);
    const again = await sweep(["conf/demo.yaml", "--json"], {
      XNN_API_URL: apiUrl,
      XNN_TOKEN: h.tokens.operator,
    });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, jobs: 0 });
    const sweep0 = await h.prisma.sweep.findFirstOrThrow();
    expect(sweep0.createdBy).toBe("otto-operator");
  });

  it("reports a refused token and a missing token", async () => {
    const viewer = await sweep(["conf/demo.yaml", "--new", "--api", apiUrl, "--token", h.tokens.viewer], {});
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/HTTP 403.*operator/);
    const none = await sweep(["conf/demo.yaml", "--api", apiUrl], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/needs a token/);
  });
});
