import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileArtifactStore } from "@xnn/artifacts";
import { createPrisma, type PrismaClient } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { initBackend, saveCheckpoint } from "@xnn/ml";
import { buildTinyClassifier } from "@xnn/ml/testing";
import { ExplainClient } from "@xnn/serving";
import { connectRedis, createRedis, sha256 } from "@xnn/shared";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnWorker, type WorkerProcess, waitForWorkerReady, waitForWorkers } from "./testing/workerHarness";

// A real worker process (`pnpm worker`'s entry) serving the explain queue beside training.
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: PrismaClient;
let redis: Redis;
let tmp: string;
let checkpoint: { uri: string; sha256: string };
let worker: WorkerProcess | undefined;

/** A 16 x 16 gray PNG as bytes, written by hand so the test needs no image library. */
async function tinyPng(): Promise<Buffer> {
  const { deflateSync, crc32 } = await import("node:zlib");
  const size = 16;
  const raw = Buffer.alloc((size + 1) * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) raw[y * (size + 1) + 1 + x] = x < 8 ? 220 : 40;
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

beforeAll(async () => {
  db = await createTestDatabase(testDatabaseServerUrl());
  prisma = createPrisma(db.url);
  redis = createRedis(testRedisUrl(), "producer");
  await connectRedis(redis, testRedisUrl());
  tmp = mkdtempSync(path.join(os.tmpdir(), "xnn-worker-explain-"));
  await initBackend("auto");
  const model = buildTinyClassifier({ imageSize: 16, numClasses: 3, seed: 4 });
  await saveCheckpoint(model, path.join(tmp, "local"));
  model.dispose();
  const stored = await new FileArtifactStore(tmp).putDir(path.join(tmp, "local"), "ckpt", {
    digestOf: ["model.json", "weights.bin"],
  });
  checkpoint = { uri: stored.uri, sha256: stored.sha256 };
}, 120_000);

afterAll(async () => {
  if (worker && worker.child.exitCode === null) worker.child.kill("SIGKILL");
  await prisma?.$disconnect();
  redis?.disconnect();
  await db?.drop();
  if (tmp) rmSync(tmp, { force: true, recursive: true });
});

describe("a worker process serving explanations", () => {
  it("advertises it in its row, answers an explain job from its thread, and stops cleanly", async () => {
    const prefix = testQueuePrefix();
    worker = spawnWorker({
      DATABASE_URL: db.url,
      REDIS_URL: testRedisUrl(),
      XNN_QUEUE_PREFIX: prefix,
      ARTIFACT_DIR: tmp,
      XNN_BACKEND: "wasm",
      XNN_EXPLAIN: "1",
      XNN_HEARTBEAT_MS: "500",
    });
    const w = worker;
    await waitForWorkerReady(w, 120_000);
    expect(w.output()).toContain('"msg":"serving explanations"');
    const row = await prisma.worker.findFirstOrThrow({ where: { status: "active" } });
    expect(row.explains).toBe(true);

    const client = new ExplainClient({
      redis,
      prefix,
      timeoutMs: 60_000,
      servingWorkers: () => prisma.worker.count({ where: { explains: true, status: "active" } }),
    });
    try {
      const image = await tinyPng();
      const { explanation, cached } = await client.explain({
        modelVersion: { id: "mv", task: "t", version: 1, alias: "production", runId: "r" },
        checkpoint,
        imageSize: null,
        classNames: null,
        imageSha256: sha256(image),
        image: image.toString("base64"),
        settings: { maxSteps: 100 },
      });
      expect(cached).toBe(false);
      expect(Object.keys(explanation.probabilities)).toEqual(["class_0", "class_1", "class_2"]);
      expect(explanation.overlayPng.length).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
    // The worker logs it on BullMQ's "completed" event, which can reach this process's pipe after
    // the client already has the answer.
    await waitForWorkers(
      w,
      'the "explained" log line',
      async () => w.output().includes('"msg":"explained"') || undefined,
      10_000,
    );
    expect(w.output()).toContain('"msg":"explained"');

    w.child.kill("SIGTERM");
    expect(await w.exited).toEqual({ code: 0, signal: null });
    expect((await prisma.worker.findUniqueOrThrow({ where: { id: row.id } })).status).toBe("gone");
  }, 180_000);
});
