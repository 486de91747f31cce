import { copyFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FileArtifactStore } from "../../../packages/artifacts/src/index";
import { generateSynthetic, initBackend, saveCheckpoint } from "../../../packages/ml/src/index";
import { buildTinyClassifier } from "../../../packages/ml/src/testing";
import { type RunningExplainWorker, startExplainWorker } from "../../../packages/serving/src/index";
import { createLogger, createRedis } from "../../../packages/shared/src/index";
import { seedRunId, seedRuns } from "../../scheduler/src/api/testing/seedRuns";
import { repoRoot, type Stack, screenshot, screenshotOnFailure, startStack } from "./stack";

/**
 * The Explain page against the real API: a production model version with a real (tiny) tfjs
 * checkpoint whose run config points at a synthetic data set with a predict/ folder, and a second
 * version with another checkpoint to compare with. A worker serving the explain queue (in this
 * process, its Integrated Gradients in its own thread) computes the explanations for real.
 */
const TASK = "xray-explain";
const SWEEP = "explain-e2e";
const SIZE = 32;

let stack: Stack;
let page: Page;
let tmp: string;
let dataDir: string;
const versionIds: string[] = [];
const workerRedis = createRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", "worker");
let explainer: RunningExplainWorker | undefined;

/** What a `pnpm worker` process does for explanations: its queue worker (the row is written apart). */
async function startExplaining(): Promise<void> {
  explainer = await startExplainWorker({
    redis: workerRedis,
    prefix: stack.queuePrefix,
    artifacts: new FileArtifactStore(path.join(tmp, "artifacts")),
    workerId: "e2e-explainer",
    backend: "auto",
    logger: createLogger("explain-e2e", "silent"),
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-explain-e2e-"));
  // A relative data.dir, as in conf/, resolved by the API against its data root.
  dataDir = path.join(tmp, "data/synthetic");
  await generateSynthetic({ out: dataDir, n: 30, size: SIZE, seed: 3 });
  await initBackend("auto");
  stack = await startStack({ dataRoot: tmp });
  page = stack.page;

  await seedRuns(stack.sql, { sweepId: SWEEP, task: TASK, runs: 2, artifacts: true });
  for (const i of [0, 1]) {
    // Two different tiny classifiers, so the two versions' explanations differ.
    const model = buildTinyClassifier({ imageSize: SIZE, numClasses: 3, seed: 21 + i * 13 });
    const dir = path.join(tmp, `ckpt-${i}`);
    const saved = await saveCheckpoint(model, dir);
    model.dispose();
    const runId = seedRunId(SWEEP, i);
    // The API verifies a checkpoint against the sha256 Postgres records before it loads it.
    await stack.prisma.checkpoint.update({
      where: { id: `ckpt-${runId}` },
      data: { uri: pathToFileURL(dir).href, sha256: saved.sha256 },
    });
    await stack.prisma.run.update({
      where: { id: runId },
      data: {
        config: {
          task: TASK,
          data: { dir: "data/synthetic", imageSize: SIZE, classNames: ["bacteria", "normal", "virus"] },
        },
      },
    });
    const v = await stack.prisma.modelVersion.create({
      data: {
        task: TASK,
        version: i + 1,
        runId,
        checkpointId: `ckpt-${runId}`,
        alias: i === 0 ? "production" : null,
      },
    });
    versionIds.push(v.id);
  }
  // A worker that says it serves explanations; its queue worker starts in the first test.
  await stack.prisma.worker.create({
    data: {
      id: "e2e-explainer",
      host: "e2e",
      pid: process.pid,
      gpus: [],
      backend: "wasm",
      version: "e2e",
      explains: true,
    },
  });
  // Signed in as if the login form had been used (that form is covered by dashboard.e2e.test.ts).
  await page.addInitScript((token) => localStorage.setItem("xnn.token", token), stack.adminToken);
});

afterAll(async () => {
  await explainer?.close();
  workerRedis.disconnect();
  await stack?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

afterEach(async (ctx) => {
  await screenshotOnFailure(page, ctx.task);
});

/** naturalWidth of the n-th element matching `testId` (0 until it has loaded). */
function loadedWidth(p: Page, testId: string, n = 0): Promise<number> {
  return p
    .getByTestId(testId)
    .nth(n)
    .evaluate((img) => (img as HTMLImageElement).naturalWidth)
    .catch(() => 0);
}

async function probabilities(p: Page, column: number): Promise<Record<string, number>> {
  const bars = p.getByTestId("explain-column").nth(column).getByTestId("explain-probability");
  const out: Record<string, number> = {};
  for (const bar of await bars.all()) {
    out[(await bar.getAttribute("data-class"))!] = Number(await bar.getAttribute("data-value"));
  }
  return out;
}

describe("Explain page", () => {
  it("shows that the explanation is queued until a worker takes it, then the answer", async () => {
    await page.goto(stack.webUrl);
    await page.getByTestId("menu-explain").click();
    await page.waitForURL(/#\/explain/);
    await page
      .getByTestId("explain-file-input")
      .setInputFiles(path.join(dataDir, "predict/bacteria/bacteria-predict.png"));
    await expect
      .poll(() => page.getByTestId("explain-progress").first().textContent())
      .toBe("Queued for a worker…");
    expect(await page.getByTestId("explain-column").first().getAttribute("data-state")).toBe("queued");
    await startExplaining();
    await expect
      .poll(() => page.getByTestId("explain-column").first().getAttribute("data-state"), { timeout: 60_000 })
      .toBe("done");
    await expect.poll(() => loadedWidth(page, "explain-overlay", 0)).toBeGreaterThan(SIZE);
  });

  it("explains an uploaded predict/ image with the production model, then with a second version beside it", async () => {
    await page.goto(stack.webUrl);
    await page.getByTestId("menu-explain").click();
    await page.waitForURL(/#\/explain/);
    // The production model's data set offers its predict/ images (one per class).
    await expect.poll(() => page.getByTestId("explain-sample").count()).toBe(3);
    expect(await page.getByTestId("explain-samples").textContent()).toContain("data/synthetic/predict");

    const file = path.join(dataDir, "predict/bacteria/bacteria-predict.png");
    await page.getByTestId("explain-file-input").setInputFiles(file);
    await expect.poll(() => loadedWidth(page, "explain-original")).toBe(SIZE);
    await expect.poll(() => loadedWidth(page, "explain-overlay", 0)).toBeGreaterThan(SIZE);
    await expect.poll(() => page.getByTestId("explain-probability").count()).toBe(3);

    const first = page.getByTestId("explain-column").first();
    expect(await first.getAttribute("data-version")).toBe("1");
    expect(await first.getByTestId("production-badge").count()).toBe(1);
    const p1 = await probabilities(page, 0);
    expect(Object.keys(p1)).toEqual(["bacteria", "normal", "virus"]);
    expect(Object.values(p1).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    const predicted = await first.getByTestId("explain-predicted").textContent();
    expect(predicted).toBe(Object.entries(p1).sort((a, b) => b[1] - a[1])[0]![0]);
    expect(await first.getByTestId("explain-gap").textContent()).toMatch(/^\d+\.\d{2} %$/);
    // Adaptive IG: the initial 50 intervals at least, the 1600-interval budget at most.
    const steps = Number(await first.getByTestId("explain-steps").textContent());
    expect(steps).toBeGreaterThanOrEqual(50);
    expect(steps).toBeLessThanOrEqual(1600);
    // These checkpoints record no class-mean baseline.
    expect(await first.getByTestId("explain-baseline").textContent()).toBe("black");
    expect(await page.getByTestId("explain-image-name").textContent()).toBe("bacteria-predict.png");

    await page.getByLabel("Add a model version").selectOption(versionIds[1]!);
    await expect.poll(() => page.getByTestId("explain-column").count()).toBe(2);
    const second = page.getByTestId("explain-column").nth(1);
    await expect.poll(() => second.getAttribute("data-version")).toBe("2");
    await expect.poll(() => loadedWidth(page, "explain-overlay", 1)).toBeGreaterThan(SIZE);
    const p2 = await probabilities(page, 1);
    expect(Object.keys(p2)).toEqual(["bacteria", "normal", "virus"]);
    expect(p2).not.toEqual(p1);
    // Only one production model: the second column has no badge, and v2 is no longer offered.
    expect(await second.getByTestId("production-badge").count()).toBe(0);
    expect(await page.locator("#explain-compare option").count()).toBe(1);

    await page.mouse.move(0, 0);
    const shot = await screenshot(page, "explain", { fullPage: true });
    copyFileSync(shot, path.join(repoRoot, "docs/explain.png"));
  });

  it("explains a predict/ sample picked from the list, and shows the API's message for a non-image", async () => {
    await page.getByTestId("explain-sample").filter({ hasText: "virus/virus-predict.png" }).click();
    await expect
      .poll(() => page.getByTestId("explain-image-name").textContent())
      .toBe("predict/virus/virus-predict.png");
    await expect.poll(() => loadedWidth(page, "explain-original")).toBe(SIZE);
    await expect.poll(() => page.locator("[data-testid=explain-column][data-state=done]").count()).toBe(2);
    await expect.poll(() => loadedWidth(page, "explain-overlay", 0)).toBeGreaterThan(SIZE);

    const notes = path.join(tmp, "notes.txt");
    await writeFile(notes, "hello, not an image\n".repeat(20));
    await page.getByTestId("explain-file-input").setInputFiles(notes);
    await expect.poll(() => page.getByTestId("explain-error").count()).toBe(2);
    expect(await page.getByTestId("explain-error").first().textContent()).toMatch(/not an image/);
    await page.getByTestId("explain-original-broken").waitFor();
    expect(await page.getByTestId("explain-overlay").count()).toBe(0);

    await screenshot(page, "explain-error");

    // Removing the compared column leaves the production model's.
    await page.getByTestId("explain-remove").click();
    await expect.poll(() => page.getByTestId("explain-column").count()).toBe(1);

    // Dropping a file on the drop zone works like choosing it.
    const bytes = [...(await readFile(path.join(dataDir, "predict/normal/normal-predict.png")))];
    const dataTransfer = await page.evaluateHandle((b) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(b)], "dropped.png", { type: "image/png" }));
      return dt;
    }, bytes);
    await page.getByTestId("explain-dropzone").dispatchEvent("drop", { dataTransfer });
    await expect.poll(() => page.getByTestId("explain-image-name").textContent()).toBe("dropped.png");
    await expect.poll(() => loadedWidth(page, "explain-overlay", 0)).toBeGreaterThan(SIZE);
    expect(await page.getByTestId("explain-error").count()).toBe(0);
  });
});
