import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { FileArtifactStore } from "@xnn/artifacts";
import { testRedisUrl } from "@xnn/db/testing";
import { explainKeyOf } from "@xnn/serving";
import { EXPLAIN_QUEUE, explainJobId, sha256 } from "@xnn/shared";
import { Queue, QueueEvents } from "bullmq";
import request from "supertest";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestExplainWorker } from "./testing/explainWorker";
import { grayPng } from "./testing/grayPng";
import { createHarness, createTestServer, type Harness } from "./testing/harness";
import { seedTinyVersions } from "./testing/tinyVersion";

let h: Harness;
let tmp: string;
let artifacts: FileArtifactStore;
let versionId: string;
const SIZE = 32;
const TASK = "xray";

beforeAll(async () => {
  h = await createHarness();
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-explain-queue-"));
  const seeded = await seedTinyVersions(h, tmp, { sweepId: "exq", task: TASK, imageSize: SIZE });
  artifacts = seeded.artifacts;
  versionId = seeded.versionIds[0] as string;
}, 120_000);

afterAll(async () => {
  await h?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A different image per call, so no test is answered by another one's cache entry. */
let imageSeed = 0;
function freshPng(): Buffer {
  const k = ++imageSeed;
  return grayPng(48, 48, (x, y) => ((x - 10 - k) ** 2 + (y - 24) ** 2 < 90 ? 230 : 40 + k));
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  // Rows of earlier tests' workers must not count as serving.
  await h.prisma.worker.deleteMany({});
});

async function server(options: { explainTimeoutMs?: number } = {}) {
  const t = await createTestServer(h, options);
  const queue = new Queue(EXPLAIN_QUEUE, { connection: h.redis, prefix: t.prefix });
  cleanups.push(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await t.close();
  });
  const predict = (png: Buffer) =>
    request(t.server)
      .post("/api/predict")
      .set("Authorization", `Bearer ${h.tokens.viewer}`)
      .attach("image", png, "x.png");
  return { ...t, explainQueue: queue, predict };
}

async function explainWorker(prefix: string, options: { maxModelBytes?: number } = {}) {
  const w = await startTestExplainWorker(h, prefix, artifacts, options);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await w.close();
  };
  cleanups.push(close);
  return { ...w, close };
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("explanations on the explain queue", () => {
  it("answers 503 at once when no live worker serves explanations, and queues nothing", async () => {
    const s = await server();
    const none = await s.predict(freshPng());
    expect(none.status).toBe(503);
    expect(none.body.error).toMatch(/no worker serves explanations/);

    // A worker that trains only, and one whose heartbeat stopped a while ago, do not count.
    const base = { host: "h", pid: 1, gpus: [], backend: "wasm", version: "t" };
    await h.prisma.worker.create({ data: { ...base, id: "trains-only", explains: false } });
    await h.prisma.worker.create({
      data: { ...base, id: "silent", explains: true, lastHeartbeat: new Date(Date.now() - 5 * 60_000) },
    });
    const started = Date.now();
    const still = await s.predict(freshPng());
    expect(still.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await s.explainQueue.count()).toBe(0);
  });

  it("answers 504 when the answer does not come in time; the work carries on and its answer is then served from the cache", async () => {
    const s = await server({ explainTimeoutMs: 1_500 });
    // A row says a worker serves explanations, but none is listening yet: the job waits.
    await h.prisma.worker.create({
      data: { id: "busy", host: "h", pid: 1, gpus: [], backend: "wasm", version: "t", explains: true },
    });
    const png = freshPng();
    const late = await s.predict(png);
    expect(late.status).toBe(504);
    expect(late.body.error).toMatch(/did not finish within 1\.5 s \(it is still queued with 0 ahead of it\)/);
    expect(late.body.error).toMatch(/answered from the cache once it is done/);

    // A worker comes along and computes it; the same request is then answered from the cache.
    await explainWorker(s.prefix);
    const jobId = explainJobId(explainKeyOf(versionId, sha256(png), {}));
    const status = await until("the queued explanation to finish", async () => {
      const res = await request(s.server)
        .get(`/api/predict/jobs/${jobId}`)
        .set("Authorization", `Bearer ${h.tokens.viewer}`);
      return res.body.state === "completed" ? res.body : undefined;
    });
    expect(status.cached).toBe(true);
    const again = await s.predict(png);
    expect(again.status).toBe(200);
    expect(again.headers["x-explain-cache"]).toBe("hit");
    expect(again.body.overlayPng).toBe(status.explanation.overlayPng);
  });

  it("answers a repeat of the same image and version from the cache, without a new job, even with no worker left", async () => {
    const s = await server();
    const w = await explainWorker(s.prefix);
    const png = freshPng();
    // Every job added to the queue, as its events report them.
    const events = new QueueEvents(EXPLAIN_QUEUE, { connection: { url: testRedisUrl() }, prefix: s.prefix });
    cleanups.push(() => events.close());
    await events.waitUntilReady();
    const added: string[] = [];
    events.on("added", ({ jobId }) => added.push(jobId));
    const completed = new Promise((resolve) => events.once("completed", resolve));

    const first = await s.predict(png);
    expect(first.status).toBe(200);
    expect(first.headers["x-explain-cache"]).toBe("miss");
    await completed;
    expect(added).toHaveLength(1);

    const second = await s.predict(png);
    expect(second.status).toBe(200);
    expect(second.headers["x-explain-cache"]).toBe("hit");
    expect(second.body).toEqual(first.body);

    // The cache answers before the worker check: no worker is needed for a known answer.
    await w.close();
    const third = await s.predict(png);
    expect(third.status).toBe(200);
    expect(third.body).toEqual(first.body);
    // The events stream is read in order: a job added by the repeats would be listed by now.
    const markerSeen = new Promise((resolve) => events.once("added", resolve));
    await s.explainQueue.add("end-of-test", {}, { jobId: "end-of-test" });
    await markerSeen;
    expect(added).toEqual([added[0], "end-of-test"]);
    // A new image with no worker: 503.
    expect((await s.predict(freshPng())).status).toBe(503);
  });

  it("maps an image only the worker finds undecodable to a 400 that says so", async () => {
    const s = await server();
    await explainWorker(s.prefix);
    const png = freshPng();
    const truncated = png.subarray(0, Math.floor(png.length * 0.6));
    const res = await s.predict(truncated);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/corrupt and cannot be decoded/);
    // A failed job does not block the next try of the same bytes (it fails again the same way).
    expect((await s.predict(truncated)).status).toBe(400);
  });

  it("with Prefer: respond-async, answers 202 with the job and reports queued / running / completed when polled", async () => {
    const s = await server();
    const png = freshPng();
    const auth = { Authorization: `Bearer ${h.tokens.viewer}` };
    // Queued first (one advertised worker that is not listening yet), so the state is deterministic.
    await h.prisma.worker.create({
      data: { id: "later", host: "h", pid: 1, gpus: [], backend: "wasm", version: "t", explains: true },
    });
    const submitted = await request(s.server)
      .post("/api/predict")
      .set(auth)
      .set("Prefer", "respond-async")
      .attach("image", png, "x.png");
    expect(submitted.status).toBe(202);
    expect(submitted.body).toMatchObject({ state: "queued", ahead: 0 });
    expect(submitted.headers.location).toBe(`/api/predict/jobs/${submitted.body.jobId}`);

    await explainWorker(s.prefix);
    const seen = new Set<string>();
    const done = await until("the explanation to complete", async () => {
      const res = await request(s.server)
        .get(submitted.headers.location as string)
        .set(auth);
      expect(res.status).toBe(200);
      seen.add(res.body.state);
      return res.body.state === "completed" ? res.body : undefined;
    });
    expect([...seen].every((st) => ["queued", "running", "completed"].includes(st))).toBe(true);
    expect(done.explanation.modelVersion.id).toBe(versionId);
    const sync = await s.predict(png);
    expect(sync.headers["x-explain-cache"]).toBe("hit");
    expect(sync.body.overlayPng).toBe(done.explanation.overlayPng);

    const unknown = await request(s.server).get("/api/predict/jobs/explain.0000").set(auth);
    expect(unknown.status).toBe(404);
  });
});
