import type { PrismaClient } from "@xnn/db";

export interface RunTiming {
  key: string;
  status: string;
  epochsDone: number;
  /** Waiting in the queue (for a free worker or, for FT, for its FE run). */
  queuedSec: number | null;
  /** Training and evaluation on a worker. */
  runSec: number | null;
}

/** How long each run waited and ran: what to look at when the demo sweep is too slow. */
export async function runTimings(prisma: PrismaClient, sweepId: string): Promise<RunTiming[]> {
  const runs = await prisma.run.findMany({
    where: { sweepId },
    select: { key: true, status: true, epochsDone: true, queuedAt: true, startedAt: true, finishedAt: true },
    orderBy: { key: "asc" },
  });
  const seconds = (a: Date | null, b: Date | null) =>
    a && b ? Math.round((b.getTime() - a.getTime()) / 100) / 10 : null;
  return runs.map((r) => ({
    key: r.key,
    status: r.status,
    epochsDone: r.epochsDone,
    queuedSec: seconds(r.queuedAt, r.startedAt),
    runSec: seconds(r.startedAt, r.finishedAt),
  }));
}

export function formatRunTimings(rows: RunTiming[]): string {
  const width = Math.max(3, ...rows.map((r) => r.key.length));
  const fmt = (v: number | null) => (v === null ? "-" : `${v.toFixed(1)} s`).padStart(9);
  return [
    `${"run".padEnd(width)}  ${"status".padEnd(9)}  epochs  ${"waited".padStart(9)}  ${"ran".padStart(9)}`,
    ...rows.map(
      (r) =>
        `${r.key.padEnd(width)}  ${r.status.padEnd(9)}  ${String(r.epochsDone).padStart(6)}  ${fmt(r.queuedSec)}  ${fmt(r.runSec)}`,
    ),
  ].join("\n");
}
