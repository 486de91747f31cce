import { mkdirSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { createPrisma, createSql, type PrismaClient, type Sql } from "../../../packages/db/src/index";
import {
  createTestDatabase,
  testDatabaseServerUrl,
  testQueuePrefix,
  testRedisUrl,
} from "../../../packages/db/src/testDatabase";
import { connectRedis, createLogger, createRedis } from "../../../packages/shared/src/index";
import { type ApiServer, createServer } from "../../scheduler/src/api/createServer";
import { createToken } from "../../scheduler/src/services/auth/tokens";
import { serveDashboard } from "./serveDashboard";

export const dashboardDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = path.resolve(dashboardDir, "../..");
export const artifacts = path.join(repoRoot, "test-artifacts");
export const VIEWPORT = { width: 1440, height: 900 };

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

export interface Stack {
  /** What a worker process needs to join this stack: its database, Redis and BullMQ prefix. */
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  prisma: PrismaClient;
  sql: Sql;
  webUrl: string;
  browser: Browser;
  page: Page;
  adminToken: string;
  close(): Promise<void>;
}

/**
 * The whole product for one test file: a fresh database, the real Redis under a queue prefix of its
 * own, the real API (createServer) on a free port, the built dashboard served with /api passed
 * through, and a Chromium page. `dataRoot` is what the API resolves relative run `data.dir`s against.
 */
export async function startStack(options: { dataRoot?: string } = {}): Promise<Stack> {
  mkdirSync(artifacts, { recursive: true });
  const db = await createTestDatabase(testDatabaseServerUrl());
  const prisma = createPrisma(db.url, { poolSize: 8 });
  const sql = createSql(db.url, { max: 8 });
  const redis = createRedis(testRedisUrl(), "producer");
  await connectRedis(redis, testRedisUrl());
  const queuePrefix = testQueuePrefix();
  const api: ApiServer = createServer({
    prisma,
    sql,
    redis,
    prefix: queuePrefix,
    confDir: path.join(repoRoot, "conf"),
    dataRoot: options.dataRoot,
    logger: createLogger("dashboard-e2e", "silent"),
  });
  const apiHttp = await new Promise<Server>((resolve) => {
    const s = api.listen(0, "127.0.0.1", () => resolve(s));
  });
  const web = await serveDashboard(path.join(dashboardDir, "dist"), (apiHttp.address() as AddressInfo).port);
  const adminToken = await createToken(prisma, "admin", "ada-e2e");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: VIEWPORT });
  page.on("pageerror", (err) => console.error("[page error]", err.message));

  return {
    databaseUrl: db.url,
    redisUrl: testRedisUrl(),
    queuePrefix,
    prisma,
    sql,
    webUrl: web.url,
    browser,
    page,
    adminToken,
    async close() {
      await browser.close();
      await web.close();
      apiHttp.closeAllConnections();
      await new Promise((resolve) => apiHttp.close(resolve));
      await api.closeResources();
      await prisma.$disconnect();
      await sql.end({ timeout: 5 });
      redis.disconnect();
      await db.drop();
    },
  };
}

/** Saves a screenshot under test-artifacts/; `fullPage` grows the viewport to the page's height. */
export async function screenshot(
  page: Page,
  name: string,
  options: { fullPage?: boolean; selector?: string } = {},
) {
  const file = path.join(artifacts, `dashboard-${name}.png`);
  if (options.selector) {
    await page.locator(options.selector).first().screenshot({ path: file });
  } else if (options.fullPage) {
    // A viewport as tall as the page, rather than a stitched full-page capture that leaves the
    // fixed app bar and menu in odd places.
    await page.evaluate(() => window.scrollTo(0, 0));
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

export async function screenshotOnFailure(
  page: Page | undefined,
  task: { name: string; result?: { state?: string } },
) {
  if (task.result?.state !== "fail" || !page) return;
  const name = task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
  await page.screenshot({ path: path.join(artifacts, `failed-${name}.png`), fullPage: true }).catch(() => {});
}
