import { Writable } from "node:stream";
import { createSql } from "@xnn/db";
import { createLogger, createRedis } from "@xnn/shared";
import pino from "pino";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { createServer } from "./createServer";
import { CONF_DIR, useApiHarness } from "./testing/harness";

const h = useApiHarness();

type Method = "post" | "delete";
const MUTATING: { method: Method; url: string; needs: "operator" | "admin" }[] = [
  { method: "post", url: "/api/sweeps", needs: "operator" },
  { method: "post", url: "/api/sweeps/some-sweep/cancel", needs: "operator" },
  { method: "post", url: "/api/sweeps/some-sweep/promote-best", needs: "admin" },
  { method: "post", url: "/api/runs/some-run/promote", needs: "admin" },
  { method: "post", url: "/api/tokens", needs: "admin" },
  { method: "delete", url: "/api/tokens/some-token", needs: "admin" },
];

describe("authorization", () => {
  it.each(MUTATING)(
    "$method $url refuses no token (401), a viewer (403) and a weaker role (403)",
    async (route) => {
      const none = await request(h.server)[route.method](route.url).send({ yaml: "x" });
      expect(none.status).toBe(401);
      expect(none.body.error).toMatch(/token/);
      const unknown = await request(h.server)
        [route.method](route.url)
        .set("Authorization", "Bearer nope")
        .send({});
      expect(unknown.status).toBe(401);
      const viewer = await request(h.server)
        [route.method](route.url)
        .set("Authorization", `Bearer ${h.tokens.viewer}`)
        .send({ yaml: "x" });
      expect(viewer.status).toBe(403);
      expect(viewer.body.error).toMatch(new RegExp(route.needs));
      if (route.needs === "admin") {
        const operator = await request(h.server)
          [route.method](route.url)
          .set("Authorization", `Bearer ${h.tokens.operator}`)
          .send({});
        expect(operator.status).toBe(403);
      }
    },
  );

  it("reads need a token too; /api/me tells who is calling", async () => {
    for (const url of [
      "/api/runs",
      "/api/sweeps",
      "/api/workers",
      "/api/model-versions",
      "/api/me",
      "/api/events",
    ]) {
      expect((await request(h.server).get(url)).status, url).toBe(401);
    }
    const me = await h.as("operator").get("/api/me");
    expect(me.body).toEqual({ role: "operator", name: "otto-operator" });
  });

  it("admins issue, list and revoke tokens; a revoked token stops working", async () => {
    const admin = h.as("admin");
    const created = await admin.post("/api/tokens").send({ role: "viewer", name: "dash" });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^xnn_/);
    const me = await request(h.server).get("/api/me").set("Authorization", `Bearer ${created.body.token}`);
    expect(me.body).toEqual({ role: "viewer", name: "dash" });
    const list = await admin.get("/api/tokens");
    expect(list.body.map((t: { name: string }) => t.name)).toContain("dash");
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    const bad = await admin.post("/api/tokens").send({ role: "root", name: "x" });
    expect(bad.status).toBe(400);
    const revoked = await admin.delete(`/api/tokens/${created.body.id}`);
    expect(revoked.status).toBe(200);
    const after = await request(h.server).get("/api/me").set("Authorization", `Bearer ${created.body.token}`);
    expect(after.status).toBe(401);
  });
});

describe("operations", () => {
  it("logs requests without tokens, whether sent as header, query or cookie", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logged = createServer({
      prisma: h.prisma,
      sql: h.sql,
      redis: h.redis,
      prefix: "unused-log-test",
      confDir: CONF_DIR,
      logger: pino({ level: "info" }, sink),
    });
    try {
      await request(logged).get("/api/me").set("Authorization", `Bearer ${h.tokens.viewer}`);
      await request(logged).get(`/api/me?token=${h.tokens.operator}`);
      await request(logged).get("/admin/queues").set("Cookie", `xnn_token=${h.tokens.admin}`);
      const log = lines.join("");
      expect(log).toContain("/api/me");
      for (const token of Object.values(h.tokens)) expect(log).not.toContain(token);
    } finally {
      await logged.closeResources();
    }
  });

  it("lists workers with the age of their last heartbeat", async () => {
    await h.prisma.worker.create({
      data: {
        id: "w-1",
        host: "gpu-1",
        pid: 42,
        gpus: [],
        backend: "wasm",
        version: "0.1.0",
        lastHeartbeat: new Date(Date.now() - 90_000),
      },
    });
    const res = await h.as("viewer").get("/api/workers");
    expect(res.headers["content-range"]).toBe("workers 0-0/1");
    expect(res.body[0]).toMatchObject({ id: "w-1", host: "gpu-1", status: "active", currentRunId: null });
    expect(res.body[0].heartbeatAgeSec).toBeGreaterThanOrEqual(90);
    expect(res.body[0].heartbeatAgeSec).toBeLessThan(150);
  });

  it("unknown /api routes answer JSON 404", async () => {
    const res = await h.as("viewer").get("/api/nothing-here");
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/nothing-here/);
  });

  it("/healthz is 200 when both stores answer and 503 naming the one that does not", async () => {
    const ok = await request(h.server).get("/healthz");
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ postgres: "ok", redis: "ok" });

    const deadRedis = createRedis("redis://127.0.0.1:1", "producer");
    const deadSql = createSql("postgresql://postgres@127.0.0.1:1/none", { max: 1 });
    const broken = createServer({
      prisma: h.prisma,
      sql: deadSql,
      redis: deadRedis,
      prefix: "unused-health-test",
      confDir: CONF_DIR,
      logger: createLogger("api-test", "silent"),
    });
    try {
      const res = await request(broken).get("/healthz");
      expect(res.status).toBe(503);
      expect(res.body.postgres).toMatch(/^down/);
      expect(res.body.redis).toMatch(/^down/);
    } finally {
      await broken.closeResources();
      deadRedis.disconnect();
      await deadSql.end({ timeout: 1 });
    }
  });

  it("/metrics exposes queue, run and request metrics", async () => {
    await h.as("viewer").get("/api/me");
    const res = await request(h.server).get("/metrics");
    expect(res.status).toBe(200);
    expect(res.text).toContain('xnn_queue_jobs{state="waiting"} 0');
    expect(res.text).toMatch(/xnn_runs/);
    expect(res.text).toMatch(
      /xnn_http_request_duration_seconds_count\{method="GET",route="\/api\/me",status="200"\} 1/,
    );
  });

  it("bull-board is admin-only; ?token= sets a cookie for the browser", async () => {
    expect((await request(h.server).get("/admin/queues")).status).toBe(401);
    const viewer = await request(h.server).get(`/admin/queues?token=${h.tokens.viewer}`);
    expect(viewer.status).toBe(303);
    const cookieOf = (res: request.Response) => String(res.headers["set-cookie"]).split(";")[0]!;
    expect((await request(h.server).get("/admin/queues").set("Cookie", cookieOf(viewer))).status).toBe(403);
    const admin = await request(h.server).get(`/admin/queues?token=${h.tokens.admin}`);
    expect(admin.status).toBe(303);
    expect(admin.headers.location).toBe("/admin/queues");
    expect(String(admin.headers["set-cookie"])).toMatch(/HttpOnly/i);
    const page = await request(h.server).get("/admin/queues").set("Cookie", cookieOf(admin));
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<html/i);
    const api = await request(h.server).get("/admin/queues/api/queues").set("Cookie", cookieOf(admin));
    expect(api.status).toBe(200);
  });
});
