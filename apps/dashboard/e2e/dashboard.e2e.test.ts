import { copyFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createToken } from "../../scheduler/src/services/tokens";
import { seedFinishedSweep } from "./seedFinishedSweep";
import { repoRoot, type Stack, screenshot, screenshotOnFailure, startStack } from "./stack";

/**
 * The dashboard in real Chromium against the real API, Postgres and Redis: log in, submit
 * conf/demo.yaml from the editor, then (until the GPU worker is wired in) seed the sweep's results,
 * and check the leaderboard, compare view, run page and promotion.
 */
let stack: Stack;
let page: Page;

beforeAll(async () => {
  stack = await startStack();
  page = stack.page;
});

afterAll(async () => {
  await stack?.close();
});

afterEach(async (ctx) => {
  await screenshotOnFailure(page, ctx.task);
});

describe("dashboard end to end", () => {
  const shot = (name: string, options?: { fullPage?: boolean; selector?: string }) =>
    screenshot(page, name, options);
  let sweepId = "";
  let seeded: Awaited<ReturnType<typeof seedFinishedSweep>> = [];

  it("logs in with a pasted admin token", async () => {
    await page.goto(stack.webUrl);
    await page.getByTestId("login-token").fill("not-a-token");
    await page.getByTestId("login-submit").click();
    await expect.poll(() => page.getByTestId("login-error").textContent()).toContain("not accepted");

    await page.getByTestId("login-token").fill(stack.adminToken);
    await page.getByTestId("login-submit").click();
    await page.waitForURL(/#\/sweeps/);
    await page.getByTestId("menu-submit").waitFor();
  });

  it("validates conf/demo.yaml in the editor, marks errors at their line, and submits it", async () => {
    await page.getByTestId("menu-submit").click();
    await page.waitForURL(/#\/submit/);
    await expect.poll(() => page.getByTestId("yaml-valid").textContent()).toContain("12 runs");
    await expect.poll(() => page.getByTestId("expanded-run").count()).toBe(12);

    // An unknown key appended at the end is reported on that line, in the gutter and the list.
    const editor = page.locator("[data-testid=yaml-editor] .cm-content");
    await editor.click();
    await page.keyboard.press("Control+End");
    const typo = "\nepochz: 3";
    await page.keyboard.type(typo);
    await page.getByTestId("yaml-issue-gutter").first().waitFor();
    await expect.poll(() => page.getByTestId("yaml-issues").textContent()).toMatch(/epochz/);
    await expect(page.getByTestId("submit-sweep").isDisabled()).resolves.toBe(true);
    await shot("submit-invalid");
    for (let i = 0; i < typo.length; i++) await page.keyboard.press("Backspace");
    await expect.poll(() => page.getByTestId("yaml-valid").count()).toBe(1);
    await expect(page.getByTestId("yaml-issue-gutter").count()).resolves.toBe(0);

    await page.getByTestId("submit-sweep").click();
    await page.waitForURL(/#\/sweeps\/[^/]+\/show/);
    sweepId = decodeURIComponent(/#\/sweeps\/([^/]+)\/show/.exec(page.url())![1]!);
    await expect.poll(() => page.getByTestId("sweep-name").textContent()).toBe("xray-demo");
    await expect.poll(() => page.locator("[data-testid=leaderboard] tbody tr").count()).toBe(12);
    expect(await stack.prisma.run.count({ where: { sweepId } })).toBe(12);
  });

  it("shows the finished sweep's leaderboard, best test F1 first, live", async () => {
    // ---------------------------------------------------------------------------------------------
    // REAL-WORKER FLOW GOES HERE. Until the GPU worker (apps/gpu-worker) is wired into this test,
    // the sweep's results are written straight into the database. To switch: start the worker on
    // the same DATABASE_URL / REDIS_URL / queue prefix as `api` above, wait until every run of
    // `sweepId` has finished (poll stack.prisma.run or listen to /api/events), and set `seeded` from the
    // runs' testF1 (best first). Everything below this block stays as it is.
    seeded = await seedFinishedSweep(stack.prisma, sweepId);
    // ---------------------------------------------------------------------------------------------
    const best = seeded[0]!;

    // The page was left open: it must pick the results up by itself (SSE, or polling as fallback).
    await expect
      .poll(() => page.locator("[data-testid=leaderboard] [data-status=succeeded]").count(), {
        timeout: 15_000,
      })
      .toBe(12);
    const firstRow = page.locator("[data-testid=leaderboard] tbody tr").first();
    await expect.poll(() => firstRow.textContent()).toContain(best.testF1.toFixed(3));
    const ranks = await page.getByTestId("leaderboard-rank").allTextContents();
    expect(ranks.slice(0, 3)).toEqual(["1", "2", "3"]);
    await shot("leaderboard");
  });

  it("compares two selected runs: table, overlaid curves, PR curves and confusion matrices", async () => {
    const rows = page.locator("[data-testid=leaderboard] tbody tr");
    await rows.nth(0).locator("input[type=checkbox]").check();
    await rows.nth(1).locator("input[type=checkbox]").check();
    await page.getByTestId("compare-selected").click();
    await page.waitForURL(/#\/compare\?runs=/);

    await expect.poll(() => page.getByTestId("compare-row").count()).toBe(2);
    await expect
      .poll(() => page.locator("[data-testid=compare-pr-chart] path.recharts-line-curve").count())
      .toBe(2);
    await expect
      .poll(() => page.locator("[data-testid^=compare-metric-chart] path.recharts-line-curve").count())
      .toBe(4);
    await expect
      .poll(() => page.locator("[data-testid=compare-confusions] [data-testid=confusion-matrix]").count())
      .toBe(2);
    const table = await page.getByTestId("compare-table").textContent();
    expect(table).toContain(seeded[0]!.key);
    expect(table).toContain(seeded[1]!.key);
    await shot("compare", { fullPage: true });
  });

  it("shows a run's epoch curves, PR curves with AP, confusion matrix and TP/FP/FN counts", async () => {
    const best = seeded[0]!;
    await page.goto(`${stack.webUrl}/#/runs/${encodeURIComponent(best.id)}/show`);
    await expect.poll(() => page.getByTestId("run-title").textContent()).toBe(best.key);
    // Three classes plus the micro-average.
    await expect.poll(() => page.locator("[data-testid=pr-chart] path.recharts-line-curve").count()).toBe(4);
    const legend = await page.locator("[data-testid=pr-chart] .recharts-legend-wrapper").textContent();
    expect(legend).toMatch(/micro-average \(AP 0\.\d{3}\)/);
    expect(legend).toMatch(/bacteria \(AP 0\.\d{3}\)/);
    await expect
      .poll(() => page.locator("[data-testid=confusion-matrix] [data-testid=confusion-cell]").count())
      .toBe(9);
    await expect.poll(() => page.locator("[data-testid=count-plot] .recharts-bar-rectangle").count()).toBe(9);
    await expect
      .poll(() => page.locator("[data-testid=epoch-chart-loss] path.recharts-line-curve").count())
      .toBe(2);
    await page.getByTestId("run-evaluation").scrollIntoViewIfNeeded();
    await shot("run-evaluation", { selector: "[data-testid=run-evaluation]" });
    await shot("run", { fullPage: true });
  });

  it("promotes the best run after a confirmation that shows candidate vs production", async () => {
    await page.goto(`${stack.webUrl}/#/sweeps/${encodeURIComponent(sweepId)}/show`);
    // The rows picked for comparing are still selected (react-admin keeps selections): clear them.
    const unselect = page.getByRole("button", { name: /unselect/i });
    if (await unselect.isVisible()) await unselect.click();
    await page.getByTestId("promote-best").click();
    const dialog = page.getByTestId("promote-dialog");
    await dialog.waitFor();
    await expect.poll(() => dialog.getByTestId("promotion-comparison").textContent()).toContain("none yet");
    await expect
      .poll(() => dialog.getByTestId("candidate-test-f1").textContent())
      .toBe(seeded[0]!.testF1.toFixed(3));
    await shot("promote-dialog");
    await page.getByTestId("promote-dialog-confirm").click();

    await expect.poll(() => stack.prisma.modelVersion.count({ where: { alias: "production" } })).toBe(1);
    const production = await stack.prisma.modelVersion.findFirstOrThrow({ where: { alias: "production" } });
    const promoted = seeded.find((r) => r.id === production.runId)!;
    expect(promoted.testF1).toBe(seeded[0]!.testF1);

    // The leaderboard row of the promoted run and the sweep header carry the production badge.
    const badgeRow = page.locator("[data-testid=leaderboard] tbody tr", {
      has: page.locator("[data-testid=production-badge]"),
    });
    await expect.poll(() => badgeRow.count()).toBe(1);
    await expect.poll(() => badgeRow.textContent()).toContain(promoted.key);
    await page.mouse.move(0, 0);
    const file = await shot("sweep-promoted");
    copyFileSync(file, path.join(repoRoot, "docs/dashboard.png"));

    await page.goto(`${stack.webUrl}/#/model-versions`);
    await expect.poll(() => page.locator("[data-testid=production-badge]").count()).toBe(1);
    await shot("model-versions");
    await page.goto(`${stack.webUrl}/#/workers`);
    await expect.poll(() => page.locator("tbody").textContent()).toContain("gpu-node-1");
    await shot("workers");
    await page.goto(`${stack.webUrl}/#/sweeps`);
    await expect.poll(() => page.getByTestId("sweep-progress").first().textContent()).toContain("12/12 done");
    await shot("sweeps");
  });

  it("shows a viewer no submit, cancel or promote controls", async () => {
    const viewerToken = await createToken(stack.prisma, "viewer", "vera-e2e");
    await page.evaluate(() => localStorage.removeItem("xnn.token"));
    await page.goto(`${stack.webUrl}/#/login`);
    await page.reload();
    await page.getByTestId("login-token").fill(viewerToken);
    await page.getByTestId("login-submit").click();
    await page.waitForURL(/#\/sweeps/);
    await page.getByTestId("menu-compare").waitFor();
    expect(await page.getByTestId("menu-submit").count()).toBe(0);

    await page.goto(`${stack.webUrl}/#/sweeps/${encodeURIComponent(sweepId)}/show`);
    await expect.poll(() => page.locator("[data-testid=leaderboard] tbody tr").count()).toBe(12);
    expect(await page.getByTestId("promote-best").count()).toBe(0);
    expect(await page.getByTestId("cancel-sweep").count()).toBe(0);
    await page.goto(`${stack.webUrl}/#/runs/${encodeURIComponent(seeded[1]!.id)}/show`);
    await expect.poll(() => page.getByTestId("run-title").textContent()).toBe(seeded[1]!.key);
    expect(await page.getByTestId("promote-run").count()).toBe(0);
  });
});
