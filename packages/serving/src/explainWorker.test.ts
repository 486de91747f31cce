import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { FileArtifactStore } from "@xnn/artifacts";
import { testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import {
  DEFAULT_IG_MAX_STEPS,
  DEFAULT_IG_RULE,
  DEFAULT_IG_STEPS,
  DEFAULT_IG_TOLERANCE,
  initBackend,
  saveCheckpoint,
} from "@xnn/ml";
import { buildTinyClassifier } from "@xnn/ml/testing";
import {
  createLogger,
  createRedis,
  EXPLAIN_JOB_NAME,
  EXPLAIN_JOB_VERSION,
  EXPLAIN_QUEUE,
  type ExplainJobPayload,
  type ExplainJobResult,
  type ExplainSettings,
  explainCacheKey,
  sha256,
} from "@xnn/shared";
import { Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExplainClient } from "./explainClient";
import { explainKeyOf } from "./explainKeyOf";
import { type RunningExplainWorker, startExplainWorker } from "./explainWorker";
import { WarmModels } from "./warmModels";

const SIZE = 24;
let tmp: string;
let redis: Redis;
let queue: Queue;
let events: QueueEvents;
let worker: RunningExplainWorker;
let prefix: string;
let png: Buffer;
const checkpoints: { uri: string; sha256: string }[] = [];

beforeAll(async () => {
  await initBackend("auto");
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-explain-worker-"));
  const store = new FileArtifactStore(tmp);
  for (const seed of [1, 2]) {
    const model = buildTinyClassifier({ imageSize: SIZE, numClasses: 3, seed });
    await saveCheckpoint(model, path.join(tmp, `local-${seed}`));
    model.dispose();
    const stored = await store.putDir(path.join(tmp, `local-${seed}`), `v${seed}`);
    checkpoints.push({ uri: stored.uri, sha256: stored.sha256 });
  }
  // The budget holds one version: the second evicts the first.
  const probe = new WarmModels(Number.POSITIVE_INFINITY);
  const oneVersion = (await probe.load("probe", path.join(tmp, "local-1"))).bytes;
  probe.dispose();

  png = grayPng(SIZE, (x) => ((x - 12) ** 2 < 20 ? 230 : 30));
  prefix = testQueuePrefix();
  redis = createRedis(testRedisUrl(), "worker");
  queue = new Queue(EXPLAIN_QUEUE, { connection: redis, prefix });
  events = new QueueEvents(EXPLAIN_QUEUE, { connection: { url: testRedisUrl() }, prefix });
  await events.waitUntilReady();
  worker = await startExplainWorker({
    redis,
    prefix,
    artifacts: store,
    workerId: "w-test",
    backend: "auto",
    maxModelBytes: Math.floor(oneVersion * 1.5),
    logger: createLogger("explain-worker-test", "silent"),
  });
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await events?.close();
  await queue?.obliterate({ force: true });
  await queue?.close();
  redis?.disconnect();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** An 8-bit gray PNG, square, written here so the test needs no image library. */
function grayPng(size: number, pixel: (x: number, y: number) => number): Buffer {
  const raw = Buffer.alloc((size + 1) * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) raw[y * (size + 1) + 1 + x] = pixel(x, y);
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
  ihdr[8] = 8; // bit depth; colour type 0 (gray), no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function payload(
  version: 1 | 2,
  image = png,
  settings: ExplainSettings = { maxSteps: 100 },
): ExplainJobPayload {
  return {
    v: EXPLAIN_JOB_VERSION,
    modelVersion: { id: `mv-${version}`, task: "t", version, alias: null, runId: `run-${version}` },
    checkpoint: checkpoints[version - 1] as { uri: string; sha256: string },
    imageSize: null,
    classNames: ["a", "b", "c"],
    imageSha256: sha256(image),
    image: image.toString("base64"),
    settings,
  };
}

let n = 0;
async function run(data: unknown): Promise<ExplainJobResult> {
  const job = await queue.add(EXPLAIN_JOB_NAME, data, { jobId: `t-${++n}` });
  return (await job.waitUntilFinished(events, 60_000)) as ExplainJobResult;
}

describe("the explain worker", () => {
  it("explains in its thread, keeps the model warm within its memory budget (LRU), and caches each answer", async () => {
    const first = await run(payload(1));
    expect(first.served).toMatchObject({ workerId: "w-test", coldLoad: true });
    expect(Object.keys(first.explanation.probabilities)).toEqual(["a", "b", "c"]);
    expect(first.explanation.modelVersion.id).toBe("mv-1");

    const warm = await run(payload(1));
    expect(warm.served.coldLoad).toBe(false);
    expect(warm.explanation).toEqual(first.explanation);

    // Version 2 does not fit beside version 1: loading it evicts 1, which is then loaded again.
    expect((await run(payload(2))).served.coldLoad).toBe(true);
    expect(worker.thread.warmVersions()).toEqual(["mv-2"]);
    expect((await run(payload(1))).served.coldLoad).toBe(true);
    expect(worker.thread.warmVersions()).toEqual(["mv-1"]);

    const cached = await redis.get(
      explainCacheKey(prefix, explainKeyOf("mv-1", sha256(png), { maxSteps: 100 })),
    );
    expect(JSON.parse(cached as string)).toEqual(first.explanation);
  });

  it("keeps one cache entry per integration scheme: other IG settings are computed anew, the defaults spelled out are not", async () => {
    const client = new ExplainClient({ redis, prefix, timeoutMs: 60_000, servingWorkers: async () => 1 });
    try {
      const image = grayPng(SIZE, (x, y) => ((y - 8) ** 2 < 12 ? 200 : 40 + x));
      const ask = (settings: ExplainSettings) => {
        const { v: _v, ...request } = payload(1, image, settings);
        return client.explain(request);
      };
      const trapezoid = await ask({ steps: 10, maxSteps: 100, rule: "trapezoid" });
      expect(trapezoid.cached).toBe(false);
      expect((await ask({ steps: 10, maxSteps: 100, rule: "trapezoid" })).cached).toBe(true);

      // Same image, same model version, another quadrature: its own computation and entry.
      const simpson = await ask({ steps: 10, maxSteps: 100, rule: "simpson" });
      expect(simpson.cached).toBe(false);
      expect(simpson.explanation.stepsUsed % 2).toBe(0);
      // Another initial grid or budget: not the cached answer either.
      expect((await ask({ steps: 4, maxSteps: 100, rule: "trapezoid" })).cached).toBe(false);
      expect((await ask({ steps: 10, maxSteps: 10, rule: "trapezoid" })).cached).toBe(false);
      expect((await ask({ steps: 10, maxSteps: 100, rule: "trapezoid", tolerance: 0.5 })).cached).toBe(false);

      // Leaving the settings out asks for the engine's defaults: the same entry as spelling them out.
      expect((await ask({})).cached).toBe(false);
      const spelled = await ask({
        steps: DEFAULT_IG_STEPS,
        rule: DEFAULT_IG_RULE,
        maxSteps: DEFAULT_IG_MAX_STEPS,
        tolerance: DEFAULT_IG_TOLERANCE,
      });
      expect(spelled.cached).toBe(true);
    } finally {
      await client.close();
    }
  });

  it("fails a payload it cannot read at once, naming the field", async () => {
    const { image: _image, ...noImage } = payload(1);
    await expect(run(noImage)).rejects.toThrow(/invalid explain job payload: missing field "image"/);
    await expect(run({ ...payload(1), imageSha256: "0".repeat(64) })).rejects.toThrow(
      /field "imageSha256" does not match the image bytes/,
    );
    await expect(run({ ...payload(1), v: 99 })).rejects.toThrow(/field "v"/);
  });

  it("says which checkpoint is missing or corrupt", async () => {
    const missing = { ...payload(2), checkpoint: { uri: `file://${tmp}/nowhere`, sha256: "a".repeat(64) } };
    missing.modelVersion = { ...missing.modelVersion, id: "mv-missing" };
    await expect(run(missing)).rejects.toThrow(
      /^bad checkpoint: model version 2 of task t \(mv-missing\).*missing/,
    );
    const tampered = {
      ...payload(2),
      checkpoint: { ...(checkpoints[1] as { uri: string }), sha256: "b".repeat(64) },
    };
    tampered.modelVersion = { ...tampered.modelVersion, id: "mv-tampered" };
    await expect(run(tampered)).rejects.toThrow(/^bad checkpoint: .*failed verification/);
  });
});
