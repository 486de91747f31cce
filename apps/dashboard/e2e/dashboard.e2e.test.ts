import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPrisma, createSql, type PrismaClient, type Sql } from "../../../packages/db/src/index";
import {
  createTestDatabase,
  testDatabaseServerUrl,
  testQueuePrefix,
  testRedisUrl,
} from "../../../packages/db/src/testDatabase";
import { connectRedis, createLogger, createRedis } from "../../../packages/shared/src/index";
import { type ApiServer, createServer } from "../../scheduler/src/api/createServer";
import { createToken } from "../../scheduler/src/services/tokens";
import { seedFinishedSweep } from "./seedFinishedSweep";
import { serveDashboard } from "./serveDashboard";

/**
 * The dashboard in real Chromium against the real API, Postgres and Redis: log in, submit
 * conf/demo.yaml from the editor, then (until the GPU worker is wired in) seed the sweep's results,
 * and check the leaderboard, compare view, run page and promotion.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const dashboardDir = path.resolve(here, "..");
const repoRoot = path.resolve(dashboardDir, "../..");
const artifacts = path.join(repoRoot, "test-artifacts");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

const VIEWPORT = { width: 1440, height: 900 };

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: PrismaClient;
let sql: Sql;
let redis: ReturnType<typeof createRedis>;
let api: ApiServer;
let apiHttp: Server;
let web: Awaited<ReturnType<typeof serveDashboard>>;
let browser: Browser;
let page: Page;
let adminToken: string;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  // Builds the dashboard as users get it (skip with XNN_E2E_SKIP_BUILD=1 when dist/ is fresh).
  if (process.env.XNN_E2E_SKIP_BUILD !== "1" || !existsSync(path.join(dashboardDir, "dist/index.html"))) {
    await build({
      root: dashboardDir,
      configFile: path.join(dashboardDir, "vite.config.ts"),
      logLevel: "warn",
    });
  }

  db = await createTestDatabase(testDatabaseServerUrl());
  prisma = createPrisma(db.url, { poolSize: 8 });
  sql = createSql(db.url, { max: 8 });
  redis = createRedis(testRedisUrl(), "producer");
  await connectRedis(redis, testRedisUrl());
  api = createServer({
    prisma,
    sql,
    redis,
    prefix: testQueuePrefix(),
    confDir: path.join(repoRoot, "conf"),
    logger: createLogger("dashboard-e2e", "silent"),
  });
  apiHttp = await new Promise<Server>((resolve) => {
    const s = api.listen(0, "127.0.0.1", () => resolve(s));
  });
  web = await serveDashboard(path.join(dashboardDir, "dist"), (apiHttp.address() as AddressInfo).port);
  adminToken = await createToken(prisma, "admin", "ada-e2e");

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: VIEWPORT });
  page.on("pageerror", (err) => console.error("[page error]", err.message));
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  if (apiHttp) {
    apiHttp.closeAllConnections();
    await new Promise((resolve) => apiHttp.close(resolve));
  }
  await api?.closeResources();
  await prisma?.$disconnect();
  await sql?.end({ timeout: 5 });
  redis?.disconnect();
  await db?.drop();
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail" && page) {
    const name = ctx.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
    await page
      .screenshot({ path: path.join(artifacts, `failed-${name}.png`), fullPage: true })
      .catch(() => {});
  }
});

async function shot(name: string, options: { fullPage?: boolean; selector?: string } = {}) {
  const file = path.join(artifacts, `dashboard-${name}.png`);
  if (options.selector) {
    await page.locator(options.selector).first().screenshot({ path: file });
  } else if (options.fullPage) {
    // A viewport as tall as the page, rather than a stitched full-page capture that leaves the
    // fixed app bar and menu in odd places.
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.setViewportSize({ width: VIEWPORT.width, height: Math.min(height, 2600) });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await page.screenshot({ path: file });
    await page.setViewportSize(VIEWPORT);
  } else {
    await page.screenshot({ path: file });
  }
  return file;
}

describe("dashboard end to end", () => {
  let sweepId = "";
  let seeded: Awaited<ReturnType<typeof seedFinishedSweep>> = [];

  it("logs in with a pasted admin token", async () => {
    await page.goto(web.url);
    await page.getByTestId("login-token").fill("not-a-token");
    await page.getByTestId("login-submit").click();
    await expect.poll(() => page.getByTestId("login-error").textContent()).toContain("not accepted");

    await page.getByTestId("login-token").fill(adminToken);
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
    expect(await prisma.run.count({ where: { sweepId } })).toBe(12);
  });

  it("shows the finished sweep's leaderboard, best test F1 first, live", async () => {
    // ---------------------------------------------------------------------------------------------
    // REAL-WORKER FLOW GOES HERE. Until the GPU worker (apps/gpu-worker) is wired into this test,
    // the sweep's results are written straight into the database. To switch: start the worker on
    // the same DATABASE_URL / REDIS_URL / queue prefix as `api` above, wait until every run of
    // `sweepId` has finished (poll prisma.run or listen to /api/events), and set `seeded` from the
    // runs' testF1 (best first). Everything below this block stays as it is.
    seeded = await seedFinishedSweep(prisma, sweepId);
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
    await page.goto(`${web.url}/#/runs/${encodeURIComponent(best.id)}/show`);
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
    await page.goto(`${web.url}/#/sweeps/${encodeURIComponent(sweepId)}/show`);
    await page.getByTestId("promote-best").click();
    const dialog = page.getByTestId("promote-dialog");
    await dialog.waitFor();
    await expect.poll(() => dialog.getByTestId("promotion-comparison").textContent()).toContain("none yet");
    await expect
      .poll(() => dialog.getByTestId("candidate-test-f1").textContent())
      .toBe(seeded[0]!.testF1.toFixed(3));
    await shot("promote-dialog");
    await page.getByTestId("promote-dialog-confirm").click();

    await expect.poll(() => prisma.modelVersion.count({ where: { alias: "production" } })).toBe(1);
    const production = await prisma.modelVersion.findFirstOrThrow({ where: { alias: "production" } });
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

    await page.goto(`${web.url}/#/model-versions`);
    await expect.poll(() => page.locator("[data-testid=production-badge]").count()).toBe(1);
    await page.goto(`${web.url}/#/workers`);
    await expect.poll(() => page.locator("tbody").textContent()).toContain("gpu-node-1");
  });
});
