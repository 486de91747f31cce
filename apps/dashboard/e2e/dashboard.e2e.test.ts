import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateSynthetic } from "../../../packages/ml/src/index";
import { spawnWorker, type WorkerProcess } from "../../gpu-worker/src/testing/workerHarness";
import { createToken } from "../../scheduler/src/services/auth/tokens";
import { artifacts, repoRoot, type Stack, screenshot, screenshotOnFailure, startStack } from "./stack";

/**
 * The dashboard in real Chromium against the real API, Postgres, Redis and two real worker
 * processes (`pnpm worker`'s entry): log in, submit conf/demo.yaml from the editor (scaled down to
 * test size by an `overrides:` block typed into it), watch the 12 runs train, then check the
 * leaderboard, compare view, run page and promotion on the workers' results.
 */
const WORKERS = 2;
/** The sweep's 12 runs on 2 worker processes, with room for a machine shared with other work. */
const SWEEP_TIMEOUT_MS = 240_000;

let stack: Stack;
let page: Page;
let tmp: string;
let dataDir: string;
let artifactDir: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-dashboard-e2e-"));
  dataDir = path.join(tmp, "data");
  artifactDir = path.join(tmp, "artifacts");
  // 60 images at 32 px (46 train, 7 val, 7 test): every split has at least 2 images of each class.
  await generateSynthetic({ out: dataDir, n: 60, size: 32, seed: 5 });
  stack = await startStack({ dataRoot: tmp });
  page = stack.page;
  // Started now, so their start-up (tsx, tfjs backend) overlaps the login and editor steps.
  for (let i = 0; i < WORKERS; i++) {
    workers.push(
      spawnWorker({
        DATABASE_URL: stack.databaseUrl,
        REDIS_URL: stack.redisUrl,
        XNN_QUEUE_PREFIX: stack.queuePrefix,
        ARTIFACT_DIR: artifactDir,
        XNN_DATA_ROOT: tmp,
        XNN_BACKEND: "wasm",
        XNN_HEARTBEAT_MS: "1000",
        XNN_SHUTDOWN_TIMEOUT_MS: "10000",
      }),
    );
  }
});

afterAll(async () => {
  // Workers first: they hold connections to the database the stack drops.
  for (const w of workers) if (w.child.exitCode === null) w.child.kill("SIGTERM");
  await Promise.all(
    workers.map((w) =>
      Promise.race([w.exited, new Promise((r) => setTimeout(r, 15_000))]).then(() => {
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
      }),
    ),
  );
  // The workers' JSON logs, kept beside the screenshots.
  writeFileSync(
    path.join(artifacts, "dashboard-e2e-workers.log"),
    workers.map((w, i) => `--- worker ${i} (pid ${w.child.pid}) ---\n${w.output()}`).join("\n"),
  );
  await stack?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function workerOutput(): string {
  return workers.map((w, i) => `--- worker ${i} ---\n${w.output().slice(-3000)}`).join("\n");
}

afterEach(async (ctx) => {
  await screenshotOnFailure(page, ctx.task);
});

describe("dashboard end to end", () => {
  const shot = (name: string, options?: { fullPage?: boolean; selector?: string }) =>
    screenshot(page, name, options);
  let sweepId = "";
  /** The sweep's runs in leaderboard order (as the page shows them), with their stored test F1. */
  let board: { id: string; key: string; testF1: number }[] = [];
  const bestF1 = () => Math.max(...board.map((r) => r.testF1));

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

    // Test size, with the sweep format's dotted-key overrides: the tiny data set generated above,
    // 32 px images, 2 epochs, one explanation-quality probe image per class (that step, not
    // training, is what takes the time at this size). Inserted as text, like a paste, so the
    // editor's auto-indent leaves the block as it is.
    await page.keyboard.insertText(
      [
        "",
        "overrides:",
        `  data.dir: ${dataDir}`,
        "  data.imageSize: 32",
        "  train.epochs: 2",
        "  train.batchSize: 16",
        "  eval.probePerClass: 1",
        "",
      ].join("\n"),
    );
    await expect.poll(() => page.getByTestId("yaml-valid").textContent()).toContain("12 runs");
    await expect(page.getByTestId("yaml-issue-gutter").count()).resolves.toBe(0);
    await shot("submit-valid");

    await page.getByTestId("submit-sweep").click();
    await page.waitForURL(/#\/sweeps\/[^/]+\/show/);
    sweepId = decodeURIComponent(/#\/sweeps\/([^/]+)\/show/.exec(page.url())![1]!);
    await expect.poll(() => page.getByTestId("sweep-name").textContent()).toBe("xray-demo");
    await expect.poll(() => page.locator("[data-testid=leaderboard] tbody tr").count()).toBe(12);
    const runs = await stack.prisma.run.findMany({ where: { sweepId } });
    expect(runs).toHaveLength(12);
    // The overrides reached every run's config.
    for (const run of runs) {
      const config = run.config as { data: { dir: string; imageSize: number }; train: { epochs: number } };
      expect(config.data).toMatchObject({ dir: dataDir, imageSize: 32 });
      expect(config.train.epochs).toBe(2);
    }
  });

  it(
    "follows the workers training the sweep live, to 12/12 done, and ranks the runs by test F1",
    async () => {
      // The page was left open: progress must reach it by itself (SSE, or polling as fallback).
      const progress = page.getByTestId("sweep-progress").first();
      const seen = new Set<string>();
      const deadline = Date.now() + SWEEP_TIMEOUT_MS;
      for (;;) {
        const text = (await progress.textContent()) ?? "";
        seen.add(text);
        if (text.startsWith("12/12 done")) break;
        const failed = await stack.prisma.run.findMany({ where: { sweepId, status: "failed" } });
        if (failed.length > 0) {
          throw new Error(
            `runs failed: ${failed.map((r) => `${r.key}: ${r.error}`).join("; ")}\n${workerOutput()}`,
          );
        }
        if (Date.now() > deadline) {
          throw new Error(
            `the sweep did not finish in ${SWEEP_TIMEOUT_MS} ms (last: "${text}")\n${workerOutput()}`,
          );
        }
        await page.waitForTimeout(500);
      }
      // It moved through intermediate states (some runs done, some running) rather than jumping.
      const partial = [...seen].filter((t) => /^([1-9]|1[01])\/12 done/.test(t));
      expect(partial.length, [...seen].join(" | ")).toBeGreaterThan(0);
      expect(
        [...seen].some((t) => /running/.test(t)),
        [...seen].join(" | "),
      ).toBe(true);
      await expect
        .poll(() => page.locator("[data-testid=leaderboard] [data-status=succeeded]").count())
        .toBe(12);

      // Every run was trained by one of this test's worker processes, with results and a checkpoint.
      const runs = await stack.prisma.run.findMany({
        where: { sweepId },
        include: { worker: true, checkpoints: true, evaluations: true },
      });
      const pids = workers.map((w) => w.child.pid);
      for (const run of runs) {
        expect(run.status, `${run.key}: ${run.error}`).toBe("succeeded");
        expect(pids).toContain(run.worker?.pid);
        expect(run.epochsDone).toBeGreaterThanOrEqual(1);
        expect(run.evaluations.map((e) => e.split)).toContain("test");
        const best = run.checkpoints.find((c) => c.kind === "best");
        expect(best && existsSync(fileURLToPath(best.uri)), `${run.key} best checkpoint`).toBe(true);
      }
      expect(new Set(runs.map((r) => r.workerId)).size).toBe(WORKERS);
      const startedAt = Math.min(...runs.map((r) => r.startedAt!.getTime()));
      const finishedAt = Math.max(...runs.map((r) => r.finishedAt!.getTime()));
      const perRun = runs.map((r) => (r.finishedAt!.getTime() - r.startedAt!.getTime()) / 1000);
      console.info(
        `12 runs on ${WORKERS} workers: ${((finishedAt - startedAt) / 1000).toFixed(0)} s from the first start to the last finish; per run ${Math.min(...perRun).toFixed(0)}-${Math.max(...perRun).toFixed(0)} s`,
      );

      // The leaderboard: the stored test F1s, best first, ranked 1, 2, 3...
      const testF1 = new Map(runs.map((r) => [r.id, r.testF1!]));
      const ids = await page
        .locator("[data-testid=leaderboard] [data-testid=run-key]")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-run-id")!));
      board = ids.map((id) => ({ id, key: runs.find((r) => r.id === id)!.key, testF1: testF1.get(id)! }));
      expect(board).toHaveLength(12);
      expect(board.map((r) => r.testF1)).toEqual([...board.map((r) => r.testF1)].sort((a, b) => b - a));
      const firstRow = page.locator("[data-testid=leaderboard] tbody tr").first();
      await expect.poll(() => firstRow.textContent()).toContain(bestF1().toFixed(3));
      const ranks = await page.getByTestId("leaderboard-rank").allTextContents();
      expect(ranks.slice(0, 3)).toEqual(["1", "2", "3"]);
      await page.mouse.move(0, 0);
      await shot("leaderboard");
    },
    SWEEP_TIMEOUT_MS + 30_000,
  );

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
    expect(table).toContain(board[0]!.key);
    expect(table).toContain(board[1]!.key);
    // Explanation-quality columns beside the metrics.
    for (const col of ["completenessGap", "deletionAuc", "insertionAuc", "maskShare"]) {
      expect(await page.getByTestId(`compare-col-${col}`).count()).toBe(1);
    }
    expect(table).toMatch(/deletion AUC/);
    await shot("compare", { fullPage: true });
  });

  it("shows a run's epoch curves, PR curves with AP, confusion matrix and TP/FP/FN counts", async () => {
    const best = board[0]!;
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
    // The matrix shows the stored counts, and the count plot a bar for every non-zero TP/FP/FN.
    const confusion = await stack.prisma.confusionMatrix.findFirstOrThrow({
      where: { runId: best.id, split: "test" },
    });
    const counts = confusion.counts as number[][];
    const cells = await page
      .locator("[data-testid=confusion-matrix] [data-testid=confusion-cell]")
      .allTextContents();
    expect(cells.map((c) => Number(c.match(/\d+/)![0]))).toEqual(counts.flat());
    const { perClass } = await stack.prisma.evaluation.findFirstOrThrow({
      where: { runId: best.id, split: "test" },
    });
    const nonZero = Object.values(perClass as Record<string, { tp: number; fp: number; fn: number }>)
      .flatMap((m) => [m.tp, m.fp, m.fn])
      .filter((n) => n > 0).length;
    await expect
      .poll(() => page.locator("[data-testid=count-plot] .recharts-bar-rectangle").count())
      .toBe(nonZero);
    await expect
      .poll(() => page.locator("[data-testid=epoch-chart-loss] path.recharts-line-curve").count())
      .toBe(2);
    // Explanation quality: the summary and one row per probe image.
    await expect
      .poll(() => page.getByTestId("explanation-summary").textContent())
      .toMatch(/deletion AUC 0\.\d{3}/);
    // One per class (eval.probePerClass 1 in the overrides).
    await expect.poll(() => page.locator("[data-testid=explanation-table] tbody tr").count()).toBe(3);
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
    await expect.poll(() => dialog.getByTestId("candidate-test-f1").textContent()).toBe(bestF1().toFixed(3));
    await shot("promote-dialog");
    await page.getByTestId("promote-dialog-confirm").click();

    await expect.poll(() => stack.prisma.modelVersion.count({ where: { alias: "production" } })).toBe(1);
    const production = await stack.prisma.modelVersion.findFirstOrThrow({ where: { alias: "production" } });
    // The best test F1 (with ties, any run that has it).
    const promoted = board.find((r) => r.id === production.runId)!;
    expect(promoted.testF1).toBe(bestF1());

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
    // The two worker processes, on this host, with the backend in use and its device.
    await expect.poll(() => page.locator("tbody tr").count()).toBe(WORKERS);
    await expect.poll(() => page.locator("tbody").textContent()).toContain(os.hostname());
    await expect.poll(() => page.locator("tbody").textContent()).toContain("wasm");
    await expect.poll(() => page.locator("thead").textContent()).toContain("Device");
    await expect
      .poll(() => page.locator("tbody").textContent())
      .toContain(`CPU: ${os.cpus()[0]!.model.trim()}`);
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
    await page.goto(`${stack.webUrl}/#/runs/${encodeURIComponent(board[1]!.id)}/show`);
    await expect.poll(() => page.getByTestId("run-title").textContent()).toBe(board[1]!.key);
    expect(await page.getByTestId("promote-run").count()).toBe(0);
  });
});
