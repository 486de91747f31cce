import type { PrismaClient } from "@xnn/db";
import cliProgress from "cli-progress";
import { type RunState, watchSweep } from "./watchSweep";

/**
 * Follows a sweep until every run has ended (or `signal` aborts), as `pnpm sweep --watch` and
 * `pnpm demo` show it: one live bar per run on a terminal; elsewhere (CI logs, pipes) one plain
 * line each time a run's state changes, with its prune reason. On a terminal the prune reasons,
 * which do not fit a bar, are listed once at the end.
 */
export async function showSweepProgress(
  prisma: PrismaClient,
  sweepId: string,
  options: { out?: NodeJS.WriteStream; signal?: AbortSignal; intervalMs?: number } = {},
): Promise<RunState[]> {
  const out = options.out ?? process.stdout;
  const multibar = out.isTTY
    ? new cliProgress.MultiBar(
        {
          format: " {key} |{bar}| {value}/{total} epochs  {status}  val F1 {f1}",
          hideCursor: true,
          clearOnComplete: false,
          stream: out,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  const bars = new Map<string, cliProgress.SingleBar>();
  const lines = progressLines();
  const render = (runs: RunState[]) => {
    if (!multibar) {
      for (const line of lines(runs)) out.write(`${line}\n`);
      return;
    }
    for (const r of runs) {
      const payload = {
        key: r.key.padEnd(32),
        status: r.status.padEnd(9),
        f1: r.bestValF1?.toFixed(3) ?? "-",
      };
      let bar = bars.get(r.id);
      if (!bar) {
        bar = multibar.create(Math.max(r.epochs, 1), 0, payload);
        bars.set(r.id, bar);
      }
      bar.update(Math.min(r.epochsDone, Math.max(r.epochs, 1)), payload);
    }
  };
  let runs: RunState[];
  try {
    runs = await watchSweep(prisma, sweepId, render, {
      intervalMs: options.intervalMs,
      signal: options.signal,
    });
  } finally {
    multibar?.stop();
  }
  const pruned = runs.filter((r) => r.prunedReason);
  if (multibar && pruned.length > 0) {
    out.write(`\n${pruned.length} run(s) pruned by the sweep's early-termination rule:\n`);
    for (const r of pruned) out.write(`  ${r.key}: ${r.prunedReason}\n`);
  }
  return runs;
}

/**
 * The plain-text renderer: given each snapshot, the lines of the runs whose state changed since the
 * last one, each stamped with the seconds since the first snapshot.
 */
export function progressLines(now: () => number = Date.now): (runs: RunState[]) => string[] {
  const started = now();
  const last = new Map<string, string>();
  return (runs) => {
    const changed: string[] = [];
    for (const r of runs) {
      const why = r.prunedReason ? ` (${r.prunedReason})` : "";
      const line = `${r.key} ${r.status} ${r.epochsDone}/${r.epochs} epochs, val F1 ${r.bestValF1?.toFixed(3) ?? "-"}${why}`;
      if (last.get(r.id) !== line) {
        changed.push(`[${`${Math.round((now() - started) / 1000)}s`.padStart(5)}] ${line}`);
        last.set(r.id, line);
      }
    }
    return changed;
  };
}
