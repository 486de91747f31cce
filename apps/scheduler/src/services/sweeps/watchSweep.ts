import type { PrismaClient } from "@xnn/db";

export interface RunState {
  id: string;
  key: string;
  status: string;
  epochsDone: number;
  epochs: number;
  bestValF1: number | null;
  /** Why the sweep's early-termination rule stopped it (status `pruned`). */
  prunedReason: string | null;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled", "pruned"]);
const SWEEP_TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Polls a sweep's runs until every one has ended and so has the sweep (a bayes sweep adds runs as
 * others end), reporting each snapshot: new runs appear in it as they are proposed.
 */
export async function watchSweep(
  prisma: PrismaClient,
  sweepId: string,
  onSnapshot: (runs: RunState[]) => void,
  options: { intervalMs?: number; signal?: AbortSignal } = {},
): Promise<RunState[]> {
  const interval = options.intervalMs ?? 1_000;
  for (;;) {
    const rows = await prisma.run.findMany({
      where: { sweepId },
      select: {
        id: true,
        key: true,
        status: true,
        epochsDone: true,
        bestValF1: true,
        config: true,
        pruned: true,
      },
      orderBy: { key: "asc" },
    });
    const runs = rows.map((r) => ({
      id: r.id,
      key: r.key,
      status: r.status,
      epochsDone: r.epochsDone,
      epochs: ((r.config as { train?: { epochs?: number } }).train?.epochs ?? 0) as number,
      bestValF1: r.bestValF1,
      prunedReason: (r.pruned as { reason?: string } | null)?.reason ?? null,
    }));
    onSnapshot(runs);
    if (options.signal?.aborted) return runs;
    if (runs.every((r) => TERMINAL.has(r.status))) {
      const sweep = await prisma.sweep.findUnique({
        where: { id: sweepId },
        select: { status: true, search: true },
      });
      const bayes = (sweep?.search as { method?: string } | null)?.method === "bayes";
      if (!sweep || !bayes || SWEEP_TERMINAL.has(sweep.status)) return runs;
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
