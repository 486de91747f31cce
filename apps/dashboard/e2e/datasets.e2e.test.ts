import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { linkRunDataset, registerDatasetVersion } from "../../../packages/db/src/index";
import { describeDataset, generateSynthetic } from "../../../packages/ml/src/index";
import { seedRunId, seedRuns } from "../../scheduler/src/api/testing/seedRuns";
import { type Stack, screenshot, screenshotOnFailure, startStack } from "./stack";

/**
 * The data set page against the real API: a synthetic data set registered as data:synth would,
 * one run linked to it with per-image test predictions (every fourth one wrong), thumbnails made by
 * the API from the files.
 */
const SWEEP = "datasets-e2e";
let stack: Stack;
let page: Page;
let tmp: string;
let datasetId: string;
let wrongCount: number;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-datasets-e2e-"));
  const dataDir = path.join(tmp, "data/synthetic");
  await generateSynthetic({ out: dataDir, n: 60, size: 48, seed: 5 });
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
  await page.addInitScript((token) => localStorage.setItem("xnn.token", token), stack.adminToken);
});

afterAll(async () => {
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
