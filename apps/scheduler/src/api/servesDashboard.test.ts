import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createLogger } from "@xnn/shared";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiServer, createServer } from "./createServer";
import { CONF_DIR, createHarness, type Harness } from "./testing/harness";

// `pnpm api` with a dashboard build: both on one origin, the API's routes first.
let h: Harness;
let server: ApiServer;
const dist = mkdtempSync(path.join(os.tmpdir(), "xnn-dash-dist-"));

beforeAll(async () => {
  h = await createHarness();
  mkdirSync(path.join(dist, "assets"));
  writeFileSync(path.join(dist, "index.html"), "<!doctype html><title>xnn dashboard</title>");
  writeFileSync(path.join(dist, "assets", "app.js"), "console.log(1)");
  server = createServer({
    prisma: h.prisma,
    sql: h.sql,
    redis: h.redis,
    prefix: "dash-test",
    confDir: CONF_DIR,
    logger: createLogger("api-test", "silent"),
    dashboardDir: dist,
  });
});
afterAll(async () => {
  await server?.closeResources();
  await h?.close();
  rmSync(dist, { recursive: true, force: true });
});

describe("the API serving the built dashboard", () => {
  it("serves the dashboard and its client-side routes, and leaves /api, /healthz to the API", async () => {
    const root = await request(server).get("/");
    expect(root.status).toBe(200);
    expect(root.text).toContain("xnn dashboard");
    expect((await request(server).get("/assets/app.js")).text).toBe("console.log(1)");
    expect((await request(server).get("/runs/abc/show")).text).toContain("xnn dashboard");
    const api = await request(server).get("/api/no-such-thing");
    expect(api.status).toBe(404);
    expect(api.body.error).toContain("no route GET /api/no-such-thing");
    expect((await request(server).get("/api/runs")).status).toBe(401);
    expect((await request(server).get("/healthz")).headers["content-type"]).toContain("json");
  });
});
