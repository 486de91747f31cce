import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { seedRuns } from "../../scheduler/src/api/testing/seedRuns";
import { type Stack, screenshot, screenshotOnFailure, startStack } from "./stack";

/**
 * Scale: 10,000 runs in the database (the runs list must page on the server) and a comparison of
 * 200 runs with 30 epochs and PR curves each (overlaid, downsampled charts and a paginated table
 * must keep the page usable).
 */
const TASK = "xray-demo";
const BIG_SWEEP = "scale-bulk";
const COMPARE_SWEEP = "scale-compare";
const COMPARED = 200;

let stack: Stack;
let page: Page;

beforeAll(async () => {
  stack = await startStack();
  page = stack.page;
  await seedRuns(stack.sql, { sweepId: BIG_SWEEP, task: TASK, runs: 10_000 - COMPARED, seed: 1 });
  await seedRuns(stack.sql, {
    sweepId: COMPARE_SWEEP,
    task: TASK,
    runs: COMPARED,
    epochs: 30,
    curvePoints: 300,
    artifacts: true,
    seed: 2,
  });
  // Signed in as if the login form had been used (that form is covered by dashboard.e2e.test.ts).
  await page.addInitScript((token) => localStorage.setItem("xnn.token", token), stack.adminToken);
});

afterAll(async () => {
  await stack?.close();
});

afterEach(async (ctx) => {
  await screenshotOnFailure(page, ctx.task);
});

/** Milliseconds the page's main thread takes to answer: large when rendering blocks it. */
async function mainThreadLatency(p: Page): Promise<number> {
  return p.evaluate(
    () =>
      new Promise<number>((resolve) => {
        const t0 = performance.now();
        setTimeout(() => resolve(performance.now() - t0), 0);
      }),
  );
}

describe("dashboard at scale", () => {
  it("pages 10,000 runs on the server", async () => {
    await page.goto(`${stack.webUrl}/#/login`);
    const apiMs = await page.evaluate(async (token) => {
      const t = performance.now();
      const res = await fetch(`/api/runs?sort=${encodeURIComponent('["testF1","DESC"]')}&range=[0,24]`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      await res.json();
      return performance.now() - t;
    }, stack.adminToken);
    const t0 = Date.now();
    await page.goto(`${stack.webUrl}/#/runs`);
    await expect.poll(() => page.locator("tbody tr").count()).toBe(25);
    await expect
      .poll(() => page.locator(".MuiTablePagination-displayedRows").textContent())
      .toMatch(/of 10,?000/);
    console.log(
      `runs list (10,000 runs): API page ${apiMs.toFixed(0)} ms; first page shown in ${Date.now() - t0} ms`,
    );
  });

  it("compares 200 runs: one overlaid chart per view, a paginated table, paged matrices", async () => {
    const ids = (
      await stack.prisma.run.findMany({ where: { sweepId: COMPARE_SWEEP }, select: { id: true } })
    ).map((r) => r.id);
    const apiMs = await page.evaluate(
      async ({ ids, token }) => {
        const t = performance.now();
        const res = await fetch(`/api/compare?runs=${ids.join(",")}`, {
          headers: { Authorization: `Bearer ${token}` },
        });
        await res.json();
        return performance.now() - t;
      },
      { ids, token: stack.adminToken },
    );
    const t0 = Date.now();
    await page.goto(`${stack.webUrl}/#/compare?sweep=${COMPARE_SWEEP}`);
    await expect.poll(() => page.getByTestId("compare-row").count(), { timeout: 60_000 }).toBe(25);
    await expect
      .poll(() => page.locator("[data-testid=compare-pr-chart] path.xnn-line").count())
      .toBe(COMPARED);
    await expect
      .poll(() => page.locator("[data-testid^=compare-metric-chart] path.xnn-line").count())
      .toBe(2 * COMPARED);
    const loadedMs = Date.now() - t0;
    expect(
      await page.locator("[data-testid=compare-confusions] [data-testid=confusion-matrix]").count(),
    ).toBe(6);
    expect(await page.locator(".MuiTablePagination-displayedRows").first().textContent()).toMatch(/of 200/);

    const domNodes = await page.evaluate(() => document.getElementsByTagName("*").length);
    const latency = await mainThreadLatency(page);
    // Switching the PR class redraws 200 downsampled lines.
    const t1 = Date.now();
    await page.getByRole("tab", { name: "virus" }).click();
    await expect
      .poll(() => page.getByRole("tab", { name: "virus" }).getAttribute("aria-selected"))
      .toBe("true");
    await expect
      .poll(() => page.locator("[data-testid=compare-pr-chart] path.xnn-line").count())
      .toBe(COMPARED);
    const tabMs = Date.now() - t1;
    console.log(
      `compare ${COMPARED} runs: API ${apiMs.toFixed(0)} ms; loaded and drawn in ${loadedMs} ms, ${domNodes} DOM nodes, ` +
        `main-thread latency ${latency.toFixed(0)} ms, PR tab switch ${tabMs} ms`,
    );
    // Generous bounds for a loaded 2-core CI machine; they catch "renders 200 charts", not jitter.
    expect(domNodes).toBeLessThan(20_000);
    expect(tabMs).toBeLessThan(5_000);
    await screenshot(page, "compare-200", { fullPage: true });
  });
});
