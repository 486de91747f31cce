import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FileArtifactStore } from "../../../packages/artifacts/src/index";
import { linkRunDataset, registerDatasetVersion } from "../../../packages/db/src/index";
import {
  describeDataset,
  generateSynthetic,
  initBackend,
  saveCheckpoint,
} from "../../../packages/ml/src/index";
import { buildTinyClassifier } from "../../../packages/ml/src/testing";
import { type RunningExplainWorker, startExplainWorker } from "../../../packages/serving/src/index";
import { createLogger, createRedis } from "../../../packages/shared/src/index";
import { seedRunId, seedRuns } from "../../scheduler/src/api/testing/seedRuns";
import { type Stack, screenshot, screenshotOnFailure, startStack } from "./stack";

/**
 * The data set page against the real API: a synthetic data set registered as data:synth would,
 * one run linked to it with per-image test predictions (every fourth one wrong), thumbnails made by
 * the API from the files. That run's model (a real tiny tfjs classifier) is the production model,
 * which explains an opened image once a worker serving the explain queue runs (in this process,
 * Integrated Gradients in its own thread).
 */
const SWEEP = "datasets-e2e";
let stack: Stack;
let page: Page;
let tmp: string;
let datasetId: string;
let wrongCount: number;
const SIZE = 48;
const workerRedis = createRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", "worker");
let explainer: RunningExplainWorker | undefined;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-datasets-e2e-"));
  const dataDir = path.join(tmp, "data/synthetic");
  await generateSynthetic({ out: dataDir, n: 60, size: SIZE, seed: 5 });
  await initBackend("auto");
  stack = await startStack({ dataRoot: tmp });
  page = stack.page;
  const description = await describeDataset(dataDir);
  const registered = await registerDatasetVersion(stack.sql, description, "data:synth");
  datasetId = registered.datasetId;
  await seedRuns(stack.sql, { sweepId: SWEEP, task: "xray", runs: 1, artifacts: true });
  const runId = seedRunId(SWEEP, 0);
  await linkRunDataset(stack.sql, runId, registered.versionId);
  const test = description.images.filter((im) => im.split === "test");
  const rows = test.map((im, i) => {
    const predicted = i % 4 === 0 ? (im.label + 1) % 3 : im.label;
    const top = 0.5 + (i % 5) / 10;
    return {
      runId,
      split: "test",
      itemPath: im.path,
      label: im.label,
      predicted,
      probabilities: [0, 1, 2].map((k) => (k === predicted ? top : (1 - top) / 2)),
    };
  });
  wrongCount = rows.filter((r) => r.predicted !== r.label).length;
  await stack.prisma.prediction.createMany({ data: rows });
  // The run's checkpoint is a real tiny classifier, promoted to production.
  const model = buildTinyClassifier({ imageSize: SIZE, numClasses: 3, seed: 31 });
  const ckptDir = path.join(tmp, "ckpt");
  const saved = await saveCheckpoint(model, ckptDir);
  model.dispose();
  await stack.prisma.checkpoint.update({
    where: { id: `ckpt-${runId}` },
    data: { uri: pathToFileURL(ckptDir).href, sha256: saved.sha256 },
  });
  await stack.prisma.run.update({
    where: { id: runId },
    data: {
      config: {
        task: "xray",
        data: { dir: "data/synthetic", imageSize: SIZE, classNames: ["bacteria", "normal", "virus"] },
      },
    },
  });
  await stack.prisma.modelVersion.create({
    data: { task: "xray", version: 1, runId, checkpointId: `ckpt-${runId}`, alias: "production" },
  });
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

async function choose(p: Page, label: string, option: RegExp | string) {
  await p.getByRole("combobox", { name: label }).click();
  await p.getByRole("option", { name: option }).click();
}

describe("data set page", () => {
  it("shows class counts and thumbnails, filters to one run's wrong predictions, and opens one image with its mask", async () => {
    await page.goto(`${stack.webUrl}/#/datasets/${datasetId}/show`);
    await page.getByTestId("class-counts").waitFor();
    await expect.poll(() => page.getByTestId("image-tile").count()).toBeGreaterThan(0);
    // Thumbnails are real images made by the API.
    await expect
      .poll(() =>
        page
          .getByTestId("image-tile")
          .first()
          .locator("img")
          .evaluate((img) => (img as HTMLImageElement).naturalWidth)
          .catch(() => 0),
      )
      .toBe(48);

    await choose(page, "Run", /F1/);
    await choose(page, "Outcome", "wrong");
    await expect.poll(() => page.getByTestId("image-total").textContent()).toBe(`${wrongCount} images`);
    await expect.poll(() => page.getByTestId("image-tile").count()).toBe(wrongCount);
    await screenshot(page, "dataset-wrong");

    await page.getByTestId("image-tile").first().click();
    const dialog = page.getByTestId("image-dialog");
    await dialog.waitFor();
    await expect
      .poll(() =>
        dialog
          .locator("img")
          .first()
          .evaluate((img) => (img as HTMLImageElement).naturalWidth)
          .catch(() => 0),
      )
      .toBeGreaterThan(0);
    await expect.poll(() => dialog.getByTestId("image-predictions").locator("tbody tr").count()).toBe(1);
    expect(await dialog.getByTestId("image-predictions").textContent()).toContain("✗");
    await screenshot(page, "dataset-image");
  });
});

describe("image dialog explanation", () => {
  it("says why there is no overlay while no worker explains, then shows the production model's IG overlay", async () => {
    await page.goto(`${stack.webUrl}/#/datasets/${datasetId}/show`);
    // A fresh page: the previous test left its image dialog open.
    await page.reload();
    await expect.poll(() => page.getByTestId("image-tile").count()).toBeGreaterThan(0);
    const tile = page.getByTestId("image-tile").first();
    const dialog = page.getByTestId("image-dialog");
    const column = dialog.getByTestId("image-explanation").getByTestId("explain-column");

    // No worker serves the explain queue: the API's 503 message, in the dialog.
    await tile.click();
    await dialog.waitFor();
    await expect.poll(() => column.getAttribute("data-state")).toBe("error");
    expect(await column.getByTestId("explain-error").textContent()).toMatch(/no worker serves explanations/);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });

    // What a `pnpm worker` process does for explanations: its row, and its queue worker.
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
    explainer = await startExplainWorker({
      redis: workerRedis,
      prefix: stack.queuePrefix,
      artifacts: new FileArtifactStore(path.join(tmp, "artifacts")),
      workerId: "e2e-explainer",
      backend: "auto",
      logger: createLogger("datasets-e2e", "silent"),
    });

    await tile.click();
    await dialog.waitFor();
    await expect.poll(() => column.getAttribute("data-state"), { timeout: 60_000 }).toBe("done");
    expect(await column.getAttribute("data-version")).toBe("1");
    expect(await column.getByTestId("production-badge").count()).toBe(1);
    await expect
      .poll(() =>
        column
          .getByTestId("explain-overlay")
          .evaluate((img) => (img as HTMLImageElement).naturalWidth)
          .catch(() => 0),
      )
      .toBeGreaterThan(0);
    expect(["bacteria", "normal", "virus"]).toContain(
      await column.getByTestId("explain-predicted").textContent(),
    );
    await screenshot(page, "dataset-image-explained");
  });
});
