import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { seedRunId, seedRuns } from "../../scheduler/src/api/testing/seedRuns";
import { type Stack, screenshot, screenshotOnFailure, startStack } from "./stack";

/**
 * The sweep page's analysis against the real API, on seeded sweeps whose figures are set by hand.
 * Both have six runs whose configs differ in model.arch and train.learningRate (i % 3, together),
 * classWeighting (i % 2: none, balanced) and seed (i % 5).
 */
const GRID = "analysis-grid";
const RANDOM = "analysis-random";
// Grid: test F1 rises with i; class weighting lifts virus recall from a mean of 0.45 to 0.75.
const GRID_F1 = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
const VIRUS = [0.4, 0.7, 0.5, 0.8, 0.45, 0.75];
const BACTERIA = [0.8, 0.7, 0.8, 0.7, 0.8, 0.7];
// Random: test F1 mostly follows the model (as in the API's importance test).
const RANDOM_F1 = [0.6, 0.7, 0.9, 0.62, 0.68, 0.88];

let stack: Stack;
let page: Page;

async function seed(sweepId: string, f1: number[], recalls: (i: number) => Record<string, number>) {
  await seedRuns(stack.sql, { sweepId, task: "xray", runs: 6, artifacts: true });
  for (let i = 0; i < 6; i++) {
    const id = seedRunId(sweepId, i);
    await stack.prisma.run.update({ where: { id }, data: { testF1: f1[i]! } });
    const perClass = Object.fromEntries(
      Object.entries(recalls(i)).map(([c, recall]) => [c, { precision: 0.8, recall, f1: 0.8, support: 10 }]),
    );
    await stack.prisma.evaluation.update({
      where: { runId_split: { runId: id, split: "test" } },
      data: { perClass },
    });
  }
}

beforeAll(async () => {
  stack = await startStack();
  page = stack.page;
  await seed(GRID, GRID_F1, (i) => ({ bacteria: BACTERIA[i]!, normal: 0.9, virus: VIRUS[i]! }));
  await seed(RANDOM, RANDOM_F1, () => ({ bacteria: 0.8, normal: 0.8, virus: 0.8 }));
  await stack.prisma.sweep.update({
    where: { id: RANDOM },
    data: {
      status: "succeeded",
      search: {
        method: "random",
        seed: 7,
        runs: 6,
        space: { "model.arch": { choice: ["mobilenet_v2", "resnet18", "convnext_v2_atto"] } },
        earlyTerminate: null,
      },
    },
  });
  await stack.prisma.sweep.update({ where: { id: GRID }, data: { status: "succeeded" } });
  await page.addInitScript((token) => localStorage.setItem("xnn.token", token), stack.adminToken);
});

afterAll(async () => {
  await stack?.close();
});

afterEach(async (ctx) => {
  await screenshotOnFailure(page, ctx.task);
});

/** Bar values of one axis card: series name -> group -> value. */
async function bars(p: Page, axis: string): Promise<Record<string, Record<string, number>>> {
  const card = p.locator(`[data-testid="axis-effect"][data-axis="${axis}"]`);
  const out: Record<string, Record<string, number>> = {};
  for (const bar of await card.getByTestId("bar").all()) {
    const series = (await bar.getAttribute("data-series"))!;
    out[series] ??= {};
    out[series][(await bar.getAttribute("data-group"))!] = Number(await bar.getAttribute("data-value"));
  }
  return out;
}

const axisLabels = (p: Page) =>
  p
    .getByTestId("pc-axis")
    .evaluateAll((els) => els.map((e) => e.getAttribute("data-axis")))
    .catch(() => [] as (string | null)[]);

describe("sweep analysis", () => {
  it("shows each axis's effect on test F1 and per-class recall, and every run in parallel coordinates", async () => {
    await page.goto(`${stack.webUrl}/#/sweeps/${GRID}/show`);
    await page.getByTestId("sweep-analysis").waitFor();
    // Largest effect on test F1 first: seed (0.3), model.arch and train.learningRate (0.2), classWeighting (0.1).
    await expect
      .poll(() =>
        page
          .getByTestId("axis-effect")
          .evaluateAll((els) => els.map((e) => e.getAttribute("data-axis")))
          .catch(() => []),
      )
      .toEqual(["seed", "model.arch", "train.learningRate", "classWeighting"]);
    // A grid's axes are crossed: no importance estimate.
    expect(await page.getByTestId("parameter-importance").count()).toBe(0);

    // The study's question: class weighting and virus recall. none: runs 0, 2, 4; balanced: 1, 3, 5.
    await expect
      .poll(() => bars(page, "classWeighting").then((b) => Object.keys(b)))
      .toEqual(["balanced (3)", "none (3)"]);
    const weighting = await bars(page, "classWeighting");
    expect(weighting["balanced (3)"]!["virus recall"]).toBeCloseTo(0.75, 9);
    expect(weighting["none (3)"]!["virus recall"]).toBeCloseTo(0.45, 9);
    expect(weighting["balanced (3)"]!["bacteria recall"]).toBeCloseTo(0.7, 9);
    expect(weighting["none (3)"]!["bacteria recall"]).toBeCloseTo(0.8, 9);
    expect(weighting["balanced (3)"]!["normal recall"]).toBeCloseTo(0.9, 9);
    expect(weighting["balanced (3)"]!["test F1"]).toBeCloseTo(0.8, 9);
    expect(weighting["none (3)"]!["test F1"]).toBeCloseTo(0.7, 9);
    expect(
      await page
        .locator('[data-testid="axis-effect"][data-axis="classWeighting"]')
        .getByTestId("axis-f1-range")
        .textContent(),
    ).toBe("Δ test F1 0.100");
    // model.arch: mobilenet_v2 runs 0, 3 -> 0.65; resnet18 1, 4 -> 0.75; convnext_v2_atto 2, 5 -> 0.85.
    const arch = await bars(page, "model.arch");
    expect(Object.keys(arch)).toEqual(["convnext_v2_atto (2)", "mobilenet_v2 (2)", "resnet18 (2)"]);
    expect(arch["mobilenet_v2 (2)"]!["test F1"]).toBeCloseTo(0.65, 9);
    expect(arch["convnext_v2_atto (2)"]!["test F1"]).toBeCloseTo(0.85, 9);

    // Parallel coordinates: one line per run, the axes in the same order, test F1 last.
    const parallel = page.getByTestId("parallel-coordinates");
    await parallel.scrollIntoViewIfNeeded();
    await expect.poll(() => parallel.getByTestId("pc-line").count()).toBe(6);
    expect(await axisLabels(page)).toEqual([
      "seed",
      "model.arch",
      "train.learningRate",
      "classWeighting",
      "test F1",
    ]);
    const weightingTicks = await page
      .locator('[data-testid="pc-axis"][data-axis="classWeighting"]')
      .getByTestId("pc-tick")
      .allTextContents();
    expect(weightingTicks).toEqual(["balanced", "none"]);
    // Coloured by, and ending on, virus recall instead: its axis spans the runs' 0.4 to 0.8.
    await page.locator("#parallel-metric").selectOption("virus");
    await expect.poll(() => axisLabels(page).then((l) => l.at(-1))).toBe("virus recall");
    expect(
      await page
        .locator('[data-testid="pc-axis"][data-axis="virus recall"]')
        .getByTestId("pc-tick")
        .allTextContents(),
    ).toEqual(["0.4", "0.8"]);
    await screenshot(page, "sweep-analysis", { selector: '[data-testid="sweep-analysis"]' });
  });

  it("ranks a random sweep's parameters by the share of test F1 variance they explain", async () => {
    await page.goto(`${stack.webUrl}/#/sweeps/${RANDOM}/show`);
    const importance = page.getByTestId("parameter-importance");
    await importance.waitFor();
    const rows = async () =>
      importance.getByTestId("importance-row").evaluateAll((els) =>
        els.map((e) => ({
          axis: e.getAttribute("data-axis"),
          epsilon2: Number(e.getAttribute("data-epsilon2")),
          eta2: Number(e.getAttribute("data-eta2")),
        })),
      );
    await expect
      .poll(async () => (await rows()).map((r) => r.axis))
      .toEqual(["model.arch", "train.learningRate", "seed", "classWeighting"]);
    // Hand-computed (grand mean 0.73, SS_total 0.0838): model.arch SS_between 0.0832, SS_within 0.0006.
    const [arch, lr, seedRow, weighting] = await rows();
    expect(arch!.eta2).toBeCloseTo(0.0832 / 0.0838, 9);
    expect(arch!.epsilon2).toBeCloseTo(0.0828 / 0.0838, 9);
    expect(lr!.epsilon2).toBeCloseTo(0.0828 / 0.0838, 9);
    // Five seeds for six runs explain a lot by chance (eta2 0.0446 / 0.0838); epsilon2 removes it.
    expect(seedRow!.eta2).toBeCloseTo(0.0446 / 0.0838, 9);
    expect(seedRow!.epsilon2).toBe(0);
    expect(weighting!.epsilon2).toBe(0);
    await expect
      .poll(() => importance.getByTestId("importance-row").first().textContent())
      .toContain(`ε² ${(0.0828 / 0.0838).toFixed(3)}`);
  });
});
