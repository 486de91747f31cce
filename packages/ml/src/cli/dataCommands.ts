import { splitDataset } from "../data/split.js";
import { generateSynthetic, SYNTH_CLASSES } from "../data/synth.js";
import {
  type CliIO,
  displayPath,
  intArg,
  parseCli,
  processIO,
  progressReporter,
  runCli,
  UsageError,
} from "./cliUtil.js";
import type { DatasetRegistrar } from "./registerDataSet.js";

export interface DataCommandOptions {
  /** Registers the written data set (the CLIs pass the registry behind DATABASE_URL, when set). */
  register?: DatasetRegistrar;
}

/** Registration is a record of the data set, not part of making it: a failure warns, the data set stays. */
async function registerWritten(dir: string, by: string, io: CliIO, options: DataCommandOptions) {
  if (!options.register) {
    io.out("not registered in the data set registry (DATABASE_URL is not set)\n");
    return;
  }
  try {
    io.out(`${await options.register(dir, by)}\n`);
  } catch (err) {
    io.err(`warning: the data set was written but not registered: ${(err as Error).message}\n`);
  }
}

// The command bodies live here rather than in cli/*.ts so tests can run them in-process (a tsx
// process start costs seconds on the shared 2-core machines); the cli files only wire argv/exit.

export const SYNTH_USAGE = `usage: pnpm data:synth --out <dir> [--n 600] [--size 128] [--seed 1] [--force]

Writes a synthetic chest-X-ray-like data set (classes ${SYNTH_CLASSES.join(", ")}):
  <out>/{train,val,test}/<class>/*.png, <out>/predict/<class>/*.png, and lesion masks under
  <out>/masks/<split>/<class>/. Refuses a non-empty <out> unless --force.`;

export const SPLIT_USAGE = `usage: pnpm data:split --raw <dir> --out <dir> [--seed 42] [--force]

Copies <raw>/<class>/* into <out>/{train,val,test}/<class>/ (stratified 80/10/10) after holding
out one image per class in <out>/predict/<class>/. The raw folder is never modified.
Refuses a non-empty <out> unless --force.`;

function countsTable(counts: Record<string, Record<string, number>>, pad: number): string {
  return Object.entries(counts)
    .map(
      ([split, c]) =>
        `  ${split.padEnd(pad)} ${Object.entries(c)
          .map(([k, n]) => `${k}=${n}`)
          .join(" ")}\n`,
    )
    .join("");
}

/** `pnpm data:synth`; resolves to the process exit code. */
export function synthCommand(
  argv: string[],
  io: CliIO = processIO,
  options: DataCommandOptions = {},
): Promise<number> {
  return runCli(SYNTH_USAGE, io, async () => {
    const v = parseCli(argv, {
      out: { type: "string" },
      n: { type: "string" },
      size: { type: "string" },
      seed: { type: "string" },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    });
    if (v.help) {
      io.out(`${SYNTH_USAGE}\n`);
      return;
    }
    if (!v.out) throw new UsageError("--out is required");
    const n = intArg("n", v.n, 600, 1);
    const size = intArg("size", v.size, 128, 16);
    const seed = intArg("seed", v.seed, 1);
    const progress = progressReporter("synth", io);
    const summary = await generateSynthetic({
      out: v.out,
      n,
      size,
      seed,
      force: v.force,
      onProgress: progress.update,
    }).finally(progress.stop);
    io.out(
      `wrote ${n} images + ${summary.predict.length} predict images to ${displayPath(summary.out)} ` +
        `in ${(summary.elapsedMs / 1000).toFixed(2)} s (seed ${seed})\n`,
    );
    io.out(countsTable(summary.counts, 5));
    await registerWritten(summary.out, "data:synth", io, options);
  });
}

/** `pnpm data:split`; resolves to the process exit code. */
export function splitCommand(
  argv: string[],
  io: CliIO = processIO,
  options: DataCommandOptions = {},
): Promise<number> {
  return runCli(SPLIT_USAGE, io, async () => {
    const v = parseCli(argv, {
      raw: { type: "string" },
      out: { type: "string" },
      seed: { type: "string" },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    });
    if (v.help) {
      io.out(`${SPLIT_USAGE}\n`);
      return;
    }
    if (!v.raw) throw new UsageError("--raw is required");
    if (!v.out) throw new UsageError("--out is required");
    const seed = intArg("seed", v.seed, 42);
    const progress = progressReporter("split", io);
    const summary = await splitDataset({
      raw: v.raw,
      out: v.out,
      seed,
      force: v.force,
      onProgress: progress.update,
    }).finally(progress.stop);
    io.out(`split ${v.raw} -> ${displayPath(summary.out)} (seed ${seed})\n`);
    io.out(countsTable(summary.counts, 7));
    await registerWritten(summary.out, "data:split", io, options);
  });
}
