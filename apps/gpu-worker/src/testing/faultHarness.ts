import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { PrismaClient } from "@xnn/db";
import { submitSweep } from "@xnn/orchestration";
import { loadSweepText } from "@xnn/shared";
import { FlowProducer } from "bullmq";
import type { Redis } from "ioredis";
import { parse, stringify } from "yaml";
import { repoRoot, waitFor } from "./workerHarness";

/**
 * What the crash and outage tests share: a small sweep of real training runs, its submission, and
 * the checks that nothing was lost (every run succeeded, every epoch stored exactly once).
 */

/** conf/demo.yaml scaled down with overrides, over the given axes. */
export function smallSweep(
  dataDir: string,
  overrides: Record<string, unknown>,
  axes: Record<string, unknown[]>,
) {
  const doc = parse(readFileSync(path.join(repoRoot, "conf/demo.yaml"), "utf8")) as Record<string, unknown>;
  doc.name = `faults-${Math.random().toString(36).slice(2, 8)}`;
  doc.overrides = {
    "data.dir": dataDir,
    "data.imageSize": 32,
    "train.batchSize": 16,
    "eval.probePerClass": 0,
    ...overrides,
  };
  doc.axes = axes;
  return loadSweepText(stringify(doc), { baseDir: path.join(repoRoot, "conf") });
}

export async function submit(
  prisma: PrismaClient,
  redis: Redis,
  prefix: string,
  loaded: ReturnType<typeof smallSweep>,
) {
  const flows = new FlowProducer({ connection: redis, prefix });
  try {
    return await submitSweep({ prisma, flows }, loaded, { fresh: true });
  } finally {
    await flows.close();
  }
}

export async function sweepEnded(prisma: PrismaClient, sweepId: string) {
  const s = await prisma.sweep.findUniqueOrThrow({ where: { id: sweepId } });
  return ["succeeded", "failed", "cancelled"].includes(s.status) ? s : undefined;
}

export interface LossReport {
  notSucceeded: string[];
  /** Runs whose stored val/f1 epochs are not exactly 1..epochsDone. */
  missingOrExtraEpochs: string[];
  /** (run, epoch, split, name) stored more than once. */
  duplicates: number;
  open: number;
}

/** Everything "nothing is lost" means for one sweep, as numbers a test asserts are zero. */
export async function lossReport(prisma: PrismaClient, sweepId: string): Promise<LossReport> {
  const runs = await prisma.run.findMany({ where: { sweepId } });
  const missingOrExtraEpochs: string[] = [];
  for (const run of runs) {
    const f1 = await prisma.epochMetric.findMany({
      where: { runId: run.id, split: "val", name: "f1" },
      orderBy: { epoch: "asc" },
    });
    const want = Array.from({ length: run.epochsDone }, (_, i) => i + 1);
    if (run.epochsDone === 0 || JSON.stringify(f1.map((m) => m.epoch)) !== JSON.stringify(want))
      missingOrExtraEpochs.push(`${run.key}: ${f1.map((m) => m.epoch).join(",")} vs 1..${run.epochsDone}`);
  }
  const dup = await prisma.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM (SELECT 1 FROM "EpochMetric" m JOIN "Run" r ON r.id = m."runId"
      WHERE r."sweepId" = ${sweepId} GROUP BY m."runId", m.epoch, m.split, m.name HAVING count(*) > 1) d`;
  return {
    notSucceeded: runs
      .filter((r) => r.status !== "succeeded")
      .map((r) => `${r.key}: ${r.status} ${r.error ?? ""}`),
    missingOrExtraEpochs,
    duplicates: Number(dup[0]!.n),
    open: runs.filter((r) => r.status === "queued" || r.status === "running").length,
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A private redis-server this test can stop and start again, with or without keeping its data. */
export class PrivateRedis {
  private child: ReturnType<typeof spawn> | null = null;
  constructor(
    readonly port: number,
    private readonly dataDir: string,
    private readonly persist: boolean,
  ) {}

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const persistence = this.persist
      ? ["--appendonly", "yes", "--appendfsync", "always"]
      : ["--appendonly", "no"];
    this.child = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        this.dataDir,
        ...persistence,
      ],
      { stdio: "ignore" },
    );
    await waitFor("redis-server to accept connections", () => canConnect(this.port), 10_000, 100);
  }

  /** Like a host reboot: SIGKILL, nothing saved beyond what persistence already wrote. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    this.child = null;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
