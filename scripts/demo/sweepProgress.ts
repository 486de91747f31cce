import type { PrismaClient } from "@xnn/db";
import { type RunState, watchSweep } from "@xnn/scheduler";
import cliProgress from "cli-progress";

/**
 * Follows a sweep until every run has ended (or `signal` aborts): one live bar per run on a
 * terminal; elsewhere (CI logs, pipes) one plain line each time a run's state changes.
 */
export async function showSweepProgress(
  prisma: PrismaClient,
  sweepId: string,
  options: { out?: NodeJS.WriteStream; signal?: AbortSignal } = {},
): Promise<RunState[]> {
  const out = options.out ?? process.stdout;
  const started = Date.now();
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`.padStart(5);
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
  const last = new Map<string, string>();
  const render = (runs: RunState[]) => {
    for (const r of runs) {
      const f1 = r.bestValF1?.toFixed(3) ?? "-";
      if (multibar) {
        const payload = { key: r.key.padEnd(32), status: r.status.padEnd(9), f1 };
        let bar = bars.get(r.id);
        if (!bar) {
          bar = multibar.create(Math.max(r.epochs, 1), 0, payload);
          bars.set(r.id, bar);
        }
        bar.update(Math.min(r.epochsDone, Math.max(r.epochs, 1)), payload);
        continue;
      }
      const line = `${r.key} ${r.status} ${r.epochsDone}/${r.epochs} epochs, val F1 ${f1}`;
      if (last.get(r.id) !== line) out.write(`[${elapsed()}] ${line}\n`);
      last.set(r.id, line);
    }
  };
  try {
    return await watchSweep(prisma, sweepId, render, { intervalMs: 1_000, signal: options.signal });
  } finally {
    multibar?.stop();
  }
}
