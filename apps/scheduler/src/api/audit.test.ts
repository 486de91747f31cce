import { readFileSync } from "node:fs";
import path from "node:path";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { tokenCommand } from "../cli/token";
import { AuthFailureLimiter } from "./authFailureLimiter";
import { CONF_DIR, createTestServer, useApiHarness } from "./testing/harness";
import { seedRunId, seedRuns } from "./testing/seedRuns";

const h = useApiHarness();
const demoYaml = readFileSync(path.join(CONF_DIR, "demo.yaml"), "utf8");

describe("audit trail", () => {
  it("records submit, cancel, promote, promote-best, token create and revoke with actor, target and outcome", async () => {
    await h.prisma.auditEvent.deleteMany();
    const submitted = await h.as("operator").post("/api/sweeps").send({ yaml: demoYaml });
    expect(submitted.status).toBe(201);
    const sweepId = submitted.body.id as string;
    expect(await h.queue.count()).toBe(12);
    const cancelled = await h.as("operator").post(`/api/sweeps/${sweepId}/cancel`);
    expect(cancelled.status).toBe(200);

    await seedRuns(h.sql, { sweepId: "audited", task: "audit-task", runs: 2, artifacts: true });
    const promoted = await h.as("admin").post(`/api/runs/${seedRunId("audited", 0)}/promote`);
    expect(promoted.status).toBe(200);
    // Seeded runs have no per-image predictions, so the promotion guard needs an override here.
    const best = await h
      .as("admin")
      .post("/api/sweeps/audited/promote-best")
      .send({ override: true, reason: "audit trail under test" });
    expect(best.status).toBe(200);

    const created = await h.as("admin").post("/api/tokens").send({ role: "viewer", name: "temp" });
    expect(created.status).toBe(201);
    const revoked = await h.as("admin").delete(`/api/tokens/${created.body.id}`);
    expect(revoked.status).toBe(200);

    const rows = await h.prisma.auditEvent.findMany({ orderBy: { createdAt: "asc" } });
    expect(rows.map((r) => [r.action, r.actor, r.actorRole, r.targetId, r.outcome, r.status])).toEqual([
      ["sweep.submit", "otto-operator", "operator", sweepId, "ok", 201],
      ["sweep.cancel", "otto-operator", "operator", sweepId, "ok", 200],
      ["run.promote", "ada-admin", "admin", seedRunId("audited", 0), "ok", 200],
      ["sweep.promote-best", "ada-admin", "admin", "audited", "ok", 200],
      ["token.create", "ada-admin", "admin", created.body.id, "ok", 201],
      ["token.revoke", "ada-admin", "admin", created.body.id, "ok", 200],
    ]);
    for (const r of rows) {
      if (r.action === "sweep.promote-best") {
        expect(r.message).toMatch(
          /^override \(reason: audit trail under test\): .*has no per-image test predictions/,
        );
        expect(r.details).toMatchObject({ override: { reason: "audit trail under test" } });
      } else expect(r.message).toBeNull();
      expect(r.ip).toMatch(/127\.0\.0\.1/);
      expect(r.tokenId).toEqual(expect.any(String));
    }
    // The plaintext of an issued token is never part of the trail.
    expect(JSON.stringify(rows)).not.toContain(created.body.token);
  });

  it("GET /api/audit lists the trail for admins, newest first, filtered, with Content-Range", async () => {
    await h.prisma.auditEvent.deleteMany();
    await h.as("viewer").post("/api/tokens").send({ role: "admin", name: "x" });
    await h.as("admin").post("/api/tokens").send({ role: "viewer", name: "y" });
    await h.as("admin").delete("/api/tokens/nope");

    const all = await h.as("admin").get("/api/audit");
    expect(all.status).toBe(200);
    expect(all.headers["content-range"]).toBe("audit 0-2/3");
    expect(all.body.map((r: { action: string; outcome: string }) => [r.action, r.outcome])).toEqual([
      ["token.revoke", "rejected"],
      ["token.create", "ok"],
      ["token.create", "denied"],
    ]);
    expect(all.body[0]).toMatchObject({
      targetId: "nope",
      status: 404,
      message: expect.stringMatching(/nope/),
    });
    expect(all.body[2]).toMatchObject({ actor: "vera-viewer", status: 403 });

    const denied = await h
      .as("admin")
      .get(`/api/audit?filter=${encodeURIComponent(JSON.stringify({ outcome: "denied" }))}`);
    expect(denied.body).toHaveLength(1);
    expect(denied.headers["content-range"]).toBe("audit 0-0/1");
  });
});

describe("audit trail of the command line", () => {
  it("pnpm xnn token create / revoke are recorded, attributed to cli:<user>", async () => {
    await h.prisma.auditEvent.deleteMany();
    const saved = process.env.DATABASE_URL;
    const write = process.stdout.write;
    process.env.DATABASE_URL = h.databaseUrl;
    // The plaintext token goes to stdout; keep it out of the test log.
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      expect(await tokenCommand(["create", "--role", "operator", "--name", "from-cli"])).toBe(0);
      const made = await h.prisma.apiToken.findFirstOrThrow({ where: { name: "from-cli" } });
      expect(await tokenCommand(["revoke", made.id])).toBe(0);
      expect(await tokenCommand(["revoke", "no-such-token"])).toBe(1);
      const rows = await h.prisma.auditEvent.findMany({ orderBy: { createdAt: "asc" } });
      expect(rows.map((r) => [r.action, r.targetId, r.outcome, r.status])).toEqual([
        ["token.create", made.id, "ok", 201],
        ["token.revoke", made.id, "ok", 200],
        ["token.revoke", "no-such-token", "rejected", 404],
      ]);
      for (const r of rows) expect(r.actor).toMatch(/^cli:/);
    } finally {
      process.stdout.write = write;
      process.env.DATABASE_URL = saved;
    }
  });
});

describe("failed token checks", () => {
  it("blocks an address with 429 and Retry-After after 20 failures a minute, a good token included", async () => {
    let now = 1_000_000;
    const t = await createTestServer(h, { authLimiter: new AuthFailureLimiter({ now: () => now }) });
    try {
      const bad = () => request(t.server).get("/api/runs").set("Authorization", "Bearer xnn_wrong");
      const good = () => request(t.server).get("/api/runs").set("Authorization", `Bearer ${h.tokens.viewer}`);
      for (let i = 0; i < 20; i++) {
        const res = await bad();
        expect(res.status).toBe(401);
        now += 1000;
      }
      expect((await good()).status).toBe(200);
      const blocked = await bad();
      expect(blocked.status).toBe(429);
      expect(blocked.headers["retry-after"]).toBe("60");
      expect(blocked.body.error).toMatch(/too many failed token checks from this address; try again in 60 s/);

      const refusedGood = await good();
      expect(refusedGood.status).toBe(429);
      now += 30_000;
      expect((await good()).headers["retry-after"]).toBe("30");
      // A blocked request is not looked up, so it does not extend the block.
      expect((await bad()).status).toBe(429);
      now += 30_001;
      expect((await good()).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it("counts failures in a sliding window: 20 spread over more than a minute never block", () => {
    let now = 0;
    const limiter = new AuthFailureLimiter({ now: () => now });
    for (let i = 0; i < 100; i++) {
      expect(limiter.recordFailure("10.0.0.1")).toBe(0);
      now += 3100;
    }
    for (let i = 0; i < 20; i++) limiter.recordFailure("10.0.0.2");
    expect(limiter.recordFailure("10.0.0.2")).toBe(60);
    expect(limiter.retryAfterSeconds("10.0.0.1")).toBe(0);
  });

  it("forgets the least recently failing addresses beyond its bound", () => {
    const limiter = new AuthFailureLimiter({ maxAddresses: 2, maxFailures: 0, now: () => 0 });
    limiter.recordFailure("a");
    limiter.recordFailure("b");
    limiter.recordFailure("c");
    expect(limiter.retryAfterSeconds("a")).toBe(0);
    expect(limiter.retryAfterSeconds("b")).toBe(60);
    expect(limiter.retryAfterSeconds("c")).toBe(60);
  });
});
