import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestExplainWorker, type TestExplainWorker } from "./testing/explainWorker";
import { grayPng } from "./testing/grayPng";
import { createHarness, createTestServer, type Harness } from "./testing/harness";
import { pollLatencies } from "./testing/pollLatencies";
import { seedRuns } from "./testing/seedRuns";
import { seedTinyVersions } from "./testing/tinyVersion";

// The issue this guards against: Integrated Gradients ran on the API's event loop, so while one
// explanation computed, /healthz took up to 3 s and every other request queued behind it.
let h: Harness;
let tmp: string;
let base: string;
let closeAll: () => Promise<void>;
let explainer: TestExplainWorker;
const SIZE = 64;
const CONCURRENT = 5;

beforeAll(async () => {
  h = await createHarness();
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-no-stall-"));
  const { artifacts } = await seedTinyVersions(h, tmp, { sweepId: "stall", task: "xray", imageSize: SIZE });
  // Something for the runs list to read.
  await seedRuns(h.sql, { sweepId: "listed", task: "xray", runs: 50, epochs: 5 });
  const t = await createTestServer(h);
  const listening = t.server.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => listening.once("listening", () => resolve()));
  base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  explainer = await startTestExplainWorker(h, t.prefix, artifacts);
  closeAll = async () => {
    await explainer.close();
    await new Promise<void>((resolve) => listening.close(() => resolve()));
    await t.close();
  };
}, 120_000);

afterAll(async () => {
  await closeAll?.();
  await h?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function p95(ms: number[]): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] as number;
}

describe("the API while explanations compute", () => {
  it(`never blocks its event loop during ${CONCURRENT} concurrent explanations: /healthz and the runs list keep answering, and each explanation completes with its gap under 5%`, async () => {
    const token = h.tokens.viewer;
    // Distinct images (a cached answer would prove nothing), a new set for every round.
    const imageSet = (round: number) =>
      Array.from({ length: CONCURRENT }, (_, k) =>
        grayPng(SIZE, SIZE, (x, y) => ((x - 16 - 6 * k) ** 2 + (y - 30 + 4 * round) ** 2 < 120 ? 235 : 50)),
      );
    // The same polling with nothing to explain first: the machine's own figures.
    const idleStop = new Promise((r) => setTimeout(r, 1_500));
    const [idleHealth, idleRuns] = await Promise.all([
      pollLatencies(`${base}/healthz`, { token: null, until: idleStop, everyMs: 50 }),
      pollLatencies(`${base}/api/runs?range=[0,24]`, { token, until: idleStop, everyMs: 50 }),
    ]);
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    // Rounds of CONCURRENT explanations at once, until both lists have enough samples to mean
    // something: how long one round takes depends on the machine (and on how fast IG has become).
    const answers: {
      status: number;
      cache: string | null;
      body: { completenessGap?: number; error?: string };
    }[] = [];
    const health: number[] = [];
    const runs: number[] = [];
    for (let round = 0; round < 6 && (health.length < 10 || runs.length < 10); round++) {
      const explaining = Promise.all(
        imageSet(round).map(async (png, k) => {
          const form = new FormData();
          form.append("image", new Blob([png], { type: "image/png" }), `img-${round}-${k}.png`);
          const res = await fetch(`${base}/api/predict`, {
            method: "POST",
            headers: { Authorization: `Bearer ${token}` },
            body: form,
          });
          return {
            status: res.status,
            cache: res.headers.get("x-explain-cache"),
            body: (await res.json()) as { completenessGap?: number; error?: string },
          };
        }),
      );
      const [a, hl, rl] = await Promise.all([
        explaining,
        pollLatencies(`${base}/healthz`, { token: null, until: explaining, everyMs: 50 }),
        pollLatencies(`${base}/api/runs?range=[0,24]`, { token, until: explaining, everyMs: 50 }),
      ]);
      answers.push(...a);
      health.push(...hl);
      runs.push(...rl);
    }

    lag.disable();
    for (const a of answers) {
      expect(a.status, JSON.stringify(a.body).slice(0, 300)).toBe(200);
      expect(a.cache).toBe("miss");
      expect(a.body.completenessGap).toBeLessThan(0.05);
    }
    expect(answers.length % CONCURRENT).toBe(0);
    expect(health.length).toBeGreaterThanOrEqual(10);
    expect(runs.length).toBeGreaterThanOrEqual(10);
    // The idle figures and the event loop's own delay say, when this fails, whether the loop was
    // blocked or the machine was busy with other things (then the idle figures are high too).
    const figures = {
      healthP95: p95(health),
      runsP95: p95(runs),
      samples: health.length + runs.length,
      explanations: answers.length,
      idle: { healthP95: p95(idleHealth), runsP95: p95(idleRuns) },
      loopDelayMs: { p95: lag.percentile(95) / 1e6, max: lag.max / 1e6 },
    };
    console.log(`no-stall figures (load ${os.loadavg()[0]?.toFixed(2)}): ${JSON.stringify(figures)}`);
    // Before the explain queue, one explanation held the loop for its whole duration (0.5 s for
    // these 64 px models, 2-3 s at ResNet-18 size): the loop's longest delay and the requests' p95
    // stay well under that. The 50 ms p95 target is a latency figure: it lives in `pnpm bench api`
    // (on this 2-core machine the API, the client, Postgres and the explain thread share the cores).
    expect(figures.loopDelayMs.max, JSON.stringify(figures)).toBeLessThan(250);
    expect(figures.healthP95, JSON.stringify(figures)).toBeLessThan(500);
    expect(figures.runsP95, JSON.stringify(figures)).toBeLessThan(500);
  }, 180_000);
});
