import type { PrismaClient } from "@xnn/db";
import type { LeaderboardRow } from "@xnn/shared/records";

export type { LeaderboardRow };

/** Runs of a sweep, best test weighted F1 first (unfinished runs last). */
export async function sweepLeaderboard(prisma: PrismaClient, sweepId: string): Promise<LeaderboardRow[]> {
  const runs = await prisma.run.findMany({
    where: { sweepId },
    include: { evaluations: { where: { split: "test" } } },
    orderBy: [{ testF1: { sort: "desc", nulls: "last" } }, { key: "asc" }],
  });
  return runs.map((r) => {
    const ev = r.evaluations[0];
    const perClass = (ev?.perClass ?? {}) as Record<string, { ap?: number }>;
    return {
      runId: r.id,
      key: r.key,
      model: r.model,
      classWeighting: r.classWeighting,
      stage: r.stage,
      status: r.status,
      testF1: r.testF1,
      bestValF1: r.bestValF1,
      apPerClass: Object.fromEntries(Object.entries(perClass).map(([k, v]) => [k, v.ap ?? Number.NaN])),
      microAp: ev?.microAp ?? null,
      error: r.error,
    };
  });
}

export function formatLeaderboard(rows: LeaderboardRow[]): string {
  const classes = [...new Set(rows.flatMap((r) => Object.keys(r.apPerClass)))].sort();
  const header = [
    "#",
    "model",
    "weighting",
    "stage",
    "status",
    "test F1",
    ...classes.map((c) => `AP ${c}`),
    "AP micro",
  ];
  const fmt = (v: number | null | undefined) =>
    v === null || v === undefined || Number.isNaN(v) ? "-" : v.toFixed(3);
  const body = rows.map((r, i) => [
    String(i + 1),
    r.model,
    r.classWeighting,
    r.stage,
    r.status,
    fmt(r.testF1),
    ...classes.map((c) => fmt(r.apPerClass[c])),
    fmt(r.microAp),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}
