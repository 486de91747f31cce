import { createPrisma, type PrismaClient } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl } from "@xnn/db/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { formatLeaderboard, sweepLeaderboard } from "./leaderboard";
import { type RunState, watchSweep } from "./watchSweep";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: PrismaClient;
beforeAll(async () => {
  db = await createTestDatabase(testDatabaseServerUrl());
  prisma = createPrisma(db.url);
  await prisma.sweep.create({ data: { id: "s", name: "s", task: "t", fingerprint: "f", sourceYaml: "" } });
  for (const [key, testF1] of [
    ["a", 0.7],
    ["b", 0.9],
  ] as const) {
    await prisma.run.create({
      data: {
        id: key,
        sweepId: "s",
        key,
        config: { train: { epochs: 3 } },
        configHash: key,
        model: "resnet18",
        classWeighting: "none",
        stage: "fe",
        jobId: key,
        status: "running",
        testF1,
      },
    });
  }
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

it("watchSweep reports snapshots until every run has ended; the leaderboard puts the best test F1 first", async () => {
  const snapshots: RunState[][] = [];
  let first: () => void = () => {};
  const firstSnapshot = new Promise<void>((resolve) => {
    first = resolve;
  });
  const watching = watchSweep(
    prisma,
    "s",
    (runs) => {
      snapshots.push(runs);
      first();
    },
    { intervalMs: 50 },
  );
  await firstSnapshot;
  await prisma.run.update({ where: { id: "a" }, data: { status: "succeeded", epochsDone: 3 } });
  await prisma.run.update({ where: { id: "b" }, data: { status: "failed", epochsDone: 1, error: "boom" } });
  const final = await watching;
  expect(final.map((r) => [r.key, r.status, r.epochsDone, r.epochs])).toEqual([
    ["a", "succeeded", 3, 3],
    ["b", "failed", 1, 3],
  ]);
  expect(snapshots[0]!.some((r) => r.status === "running")).toBe(true);
  const board = await sweepLeaderboard(prisma, "s");
  expect(board.map((r) => r.key)).toEqual(["b", "a"]);
  expect(formatLeaderboard(board).split("\n")[2]).toMatch(/^1\s+resnet18\s+none\s+fe\s+failed\s+0\.900/);
});

it("watchSweep reports a pruned run's reason, and follows a bayes sweep until the sweep ends, new runs included", async () => {
  await prisma.sweep.create({
    data: {
      id: "bayes",
      name: "bayes",
      task: "t",
      fingerprint: "fb",
      sourceYaml: "",
      status: "running",
      search: { method: "bayes", runs: 2 },
    },
  });
  const run = (key: string, trial: number, status: "running" | "pruned" | "queued") => ({
    id: `bayes.${key}`,
    sweepId: "bayes",
    key,
    config: { train: { epochs: 3 } },
    configHash: key,
    model: "resnet18",
    classWeighting: "none",
    stage: "fe" as const,
    jobId: key,
    status,
    trial,
  });
  await prisma.run.create({ data: run("t0", 0, "running") });
  const snapshots: RunState[][] = [];
  const watching = watchSweep(prisma, "bayes", (runs) => snapshots.push(runs), { intervalMs: 50 });
  await prisma.run.update({
    where: { id: "bayes.t0" },
    data: {
      status: "pruned",
      epochsDone: 1,
      pruned: { reason: "asha at epoch 1: val.f1 0.2 ranks 2 of 2", numbers: null },
    },
  });
  // Every run has ended, but the sweep has one point left to propose: the watch goes on.
  const waitForSnapshots = async (n: number) => {
    while (snapshots.length < n) await new Promise((r) => setTimeout(r, 20));
  };
  await waitForSnapshots(snapshots.length + 3);
  await prisma.run.create({ data: run("t1", 1, "queued") });
  await waitForSnapshots(snapshots.length + 2);
  expect(snapshots.at(-1)!.map((r) => r.key)).toEqual(["t0", "t1"]);
  await prisma.run.update({ where: { id: "bayes.t1" }, data: { status: "pruned" } });
  await prisma.sweep.update({ where: { id: "bayes" }, data: { status: "succeeded" } });
  const final = await watching;
  expect(final.map((r) => [r.key, r.status, r.prunedReason])).toEqual([
    ["t0", "pruned", "asha at epoch 1: val.f1 0.2 ranks 2 of 2"],
    ["t1", "pruned", null],
  ]);
});
