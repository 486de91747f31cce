import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createPrisma, createSql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl, testQueuePrefix, testRedisUrl } from "@xnn/db/testing";
import { generateSynthetic } from "@xnn/ml";
import { startSearchScheduler, submitSweep } from "@xnn/orchestration";
import { createRedis, loadSweepText, RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import { parse, stringify } from "yaml";
import { spawnWorker, type WorkerProcess, waitFor } from "../apps/gpu-worker/src/testing/workerHarness";

// `pnpm bench search`: conf/search.yaml (a 24-run random sweep: 12 points x FE/FT) on a synthetic
// set, run twice by real worker processes with the same seed and space: once without early
// termination, once with its ASHA rule. Prints wall time, CPU-seconds of the workers, and the best
// test F1 each sweep found. Target (issue 17): ASHA spends at most half the CPU for a best test F1
// within 0.02. Take figures on a quiet machine only.
const { values: args } = parseArgs({
  options: {
    workers: { type: "string", default: "2" },
    n: { type: "string", default: "600" },
    size: { type: "string", default: "64" },
    epochs: { type: "string" },
    sweep: { type: "string", default: "conf/search.yaml" },
  },
});
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const workersN = Number(args.workers);
const CLK_TCK = 100; // Linux USER_HZ

const dataDir = mkdtempSync(path.join(os.tmpdir(), "xnn-bench-search-data-"));
const artifactDir = mkdtempSync(path.join(os.tmpdir(), "xnn-bench-search-artifacts-"));
const db = await createTestDatabase(testDatabaseServerUrl());
const prisma = createPrisma(db.url);
const sql = createSql(db.url);
const redis = createRedis(testRedisUrl(), "worker");

/** The sweep file with the bench's data set, with or without its earlyTerminate rule. */
function sweepText(withRule: boolean): string {
  const doc = parse(readFileSync(path.resolve(root, args.sweep), "utf8")) as Record<string, unknown>;
  doc.name = `${doc.name}-${withRule ? "asha" : "full"}`;
  doc.base = path.join(root, "conf", String(doc.base));
  doc.overrides = {
    ...(doc.overrides as object),
    "data.dir": dataDir,
    ...(args.epochs ? { "train.epochs": Number(args.epochs) } : {}),
  };
  if (!withRule) delete doc.earlyTerminate;
  return stringify(doc);
}

/** utime + stime of a live process, in seconds (the worker's training thread included). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** One run of a sweep as the per-point table shows it. */
interface RunRow {
  trial: number;
  stage: string;
  params: Record<string, unknown>;
  status: string;
  epochs: number;
  bestValF1: number | null;
  testF1: number | null;
  reason: string | null;
  /** val F1 by epoch, epoch 1 first. */
  curve: number[];
  /** train loss by epoch, epoch 1 first. */
  lossCurve: number[];
}

interface Outcome {
  label: string;
  rows: RunRow[];
  runs: number;
  wallS: number;
  cpuS: number;
  bestTestF1: number | null;
  bestKey: string | null;
  statuses: Record<string, number>;
  epochs: number;
}

async function runSweep(withRule: boolean): Promise<Outcome> {
  const prefix = testQueuePrefix();
  const loaded = loadSweepText(sweepText(withRule), { baseDir: path.join(root, "conf") });
  const flows = new FlowProducer({ connection: redis, prefix });
  const scheduler = startSearchScheduler({ sql, redis, flows }, { intervalMs: 1_000 });
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: testRedisUrl(),
    XNN_QUEUE_PREFIX: prefix,
    ARTIFACT_DIR: artifactDir,
    XNN_BACKEND: "wasm",
    XNN_LOG_LEVEL: "warn",
  };
  const workers: WorkerProcess[] = Array.from({ length: workersN }, () => spawnWorker(env));
  const lastCpu = new Map<number, number>();
  const sample = () => {
    for (const w of workers) if (w.child.pid) lastCpu.set(w.child.pid, cpuSeconds(w.child.pid));
  };
  const sampler = setInterval(sample, 1_000);
  const t0 = performance.now();
  const { sweepId } = await submitSweep({ prisma, flows }, loaded, { fresh: true });
  try {
    await waitFor(
      `sweep ${sweepId}`,
      async () => {
        const s = await prisma.sweep.findUniqueOrThrow({ where: { id: sweepId } });
        return ["succeeded", "failed", "cancelled"].includes(s.status) ? s : undefined;
      },
      6 * 3600_000,
      1_000,
    );
  } finally {
    sample();
    clearInterval(sampler);
    await scheduler.stop();
    for (const w of workers) w.child.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.exited));
    const queue = new Queue(RUNS_QUEUE, { connection: redis, prefix });
    await queue.obliterate({ force: true }).catch(() => {});
    await Promise.all([queue.close(), flows.close()]);
  }
  const wallS = (performance.now() - t0) / 1000;
  const runs = await prisma.run.findMany({ where: { sweepId } });
  const statuses: Record<string, number> = {};
  for (const r of runs) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  const curves = await prisma.epochMetric.findMany({
    where: {
      run: { sweepId },
      OR: [
        { split: "val", name: "f1" },
        { split: "train", name: "loss" },
      ],
    },
    orderBy: { epoch: "asc" },
  });
  const rows: RunRow[] = runs.map((r) => ({
    trial: r.trial ?? -1,
    stage: r.stage,
    params: (r.params ?? {}) as Record<string, unknown>,
    status: r.status,
    epochs: r.epochsDone,
    bestValF1: r.bestValF1,
    testF1: r.testF1,
    reason: (r.pruned as { reason?: string } | null)?.reason ?? null,
    curve: curves.filter((m) => m.runId === r.id && m.split === "val").map((m) => m.value),
    lossCurve: curves.filter((m) => m.runId === r.id && m.split === "train").map((m) => m.value),
  }));
  rows.sort((a, b) => a.trial - b.trial || a.stage.localeCompare(b.stage));
  const best = runs.filter((r) => r.testF1 !== null).sort((a, b) => (b.testF1 ?? 0) - (a.testF1 ?? 0))[0];
  return {
    label: withRule ? `with ${loaded.search.earlyTerminate?.method}` : "without early termination",
    rows,
    runs: runs.length,
    wallS,
    cpuS: [...lastCpu.values()].reduce((a, b) => a + b, 0),
    bestTestF1: best?.testF1 ?? null,
    bestKey: best?.key ?? null,
    statuses,
    epochs: runs.reduce((n, r) => n + r.epochsDone, 0),
  };
}

const f2 = (x: number | null | undefined) => (x == null ? "–" : x.toFixed(3));
const short = (v: unknown) => (typeof v === "number" ? Number(v.toPrecision(3)).toString() : String(v));

/**
 * Both sweeps side by side, one line per run of each point: what the point was, how far each sweep
 * trained it and what it scored, and why ASHA stopped it. Then the val F1 curves, which show whether
 * the same point trains the same way in both sweeps (same config, same seed).
 */
function pointTable(full: Outcome, asha: Outcome): string {
  const keyOf = (r: RunRow) => `${r.trial}/${r.stage}`;
  const ashaBy = new Map(asha.rows.map((r) => [keyOf(r), r]));
  const axes = [...new Set(full.rows.flatMap((r) => Object.keys(r.params)))];
  const cols = (r: RunRow | undefined) =>
    r
      ? `${r.status.padEnd(9)} ${String(r.epochs).padStart(2)} ${f2(r.bestValF1).padStart(5)} ${f2(r.testF1).padStart(5)}`
      : "–".padEnd(24);
  const lines = [
    `point ${axes.map((a) => a.replace(/^.*\./, "").padStart(12)).join(" ")} stage | ` +
      `without: status ep  val  test | with: status    ep  val  test | same curve | prune reason`,
  ];
  for (const r of full.rows) {
    const a = ashaBy.get(keyOf(r));
    const n = Math.min(r.curve.length, a?.curve.length ?? 0);
    const same =
      a === undefined || n === 0
        ? "–"
        : r.curve.slice(0, n).every((v, i) => Math.abs(v - a.curve[i]!) < 1e-9) &&
            r.lossCurve.slice(0, n).every((v, i) => Math.abs(v - a.lossCurve[i]!) < 1e-9)
          ? `yes (${n} ep)`
          : `NO (${n} ep)`;
    lines.push(
      `${String(r.trial).padStart(5)} ${axes.map((k) => short(r.params[k]).padStart(12)).join(" ")} ${r.stage.padEnd(5)} | ` +
        `${cols(r)} | ${cols(a)} | ${same.padEnd(10)} | ${a?.reason ?? ""}`,
    );
  }
  for (const [title, of] of [
    ["val F1", (r: RunRow) => r.curve],
    ["train loss", (r: RunRow) => r.lossCurve],
  ] as const) {
    lines.push(`${title} by epoch (without | with):`);
    for (const r of full.rows) {
      const a = ashaBy.get(keyOf(r));
      const fmt = (xs: number[]) => xs.map((v) => v.toFixed(3)).join(" ");
      lines.push(
        `${String(r.trial).padStart(5)} ${r.stage.padEnd(3)} ${fmt(of(r))} | ${a ? fmt(of(a)) : ""}`,
      );
    }
  }
  return lines.join("\n");
}

try {
  console.log(`load before: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  await generateSynthetic({ out: dataDir, n: Number(args.n), size: Number(args.size), seed: 7 });
  const full = await runSweep(false);
  const asha = await runSweep(true);
  const row = (o: Outcome) =>
    `${o.label.padEnd(28)} ${String(o.runs).padStart(4)} runs ${String(o.epochs).padStart(5)} epochs ` +
    `${o.wallS.toFixed(0).padStart(6)} s wall ${o.cpuS.toFixed(0).padStart(7)} CPU-s  best test F1 ` +
    `${o.bestTestF1?.toFixed(4) ?? "–"} (${o.bestKey ?? "–"})  ${JSON.stringify(o.statuses)}`;
  console.log(
    `pnpm bench search: ${args.sweep}, ${workersN} workers, synthetic n=${args.n} size=${args.size}`,
  );
  console.log(row(full));
  console.log(row(asha));
  console.log(pointTable(full, asha));
  console.log(`load after: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  const saving = full.cpuS / Math.max(asha.cpuS, 1e-9);
  const f1Gap = (full.bestTestF1 ?? 0) - (asha.bestTestF1 ?? 0);
  console.log(
    `compute: ${saving.toFixed(2)}x less CPU with early termination (target >= 2x); ` +
      `wall ${(full.wallS / asha.wallS).toFixed(2)}x; best test F1 gap ${f1Gap.toFixed(4)} (target <= 0.02)`,
  );
  console.log(saving >= 2 && f1Gap <= 0.02 ? "target met" : "target NOT met");
} finally {
  await prisma.$disconnect();
  await sql.end({ timeout: 5 });
  redis.disconnect();
  await db.drop();
  rmSync(dataDir, { force: true, recursive: true });
  rmSync(artifactDir, { force: true, recursive: true });
}
