import path from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { DatasetError } from "../data/errors.js";

/** Thrown for bad command-line input; the CLI prints it with the usage text and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function parseCli<T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T) {
  // `pnpm script -- --flag` forwards a literal "--", which parseArgs would treat as end of options.
  const args = argv[0] === "--" ? argv.slice(1) : argv;
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function intArg(name: string, value: string | undefined, fallback?: number, min = 0): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`--${name} must be an integer, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** Where a command writes; tests pass collectors, the CLIs pass the process streams. */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Draw a progress bar (terminal) instead of sparse progress lines. */
  tty: boolean;
}

export const processIO: CliIO = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  tty: Boolean(process.stderr.isTTY),
};

/** cli-progress bar on a terminal; sparse plain lines otherwise (CI logs, piped output). */
export function progressReporter(
  label: string,
  io: CliIO = processIO,
): { update: (done: number, total: number) => void; stop: () => void } {
  if (io.tty) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta}s`, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total) {
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let lastPct = -1;
  return {
    update(done, total) {
      const pct = Math.floor((done / total) * 10) * 10;
      if (pct !== lastPct) io.err(`${label}: ${done}/${total} (${pct}%)\n`);
      lastPct = pct;
    },
    stop() {},
  };
}

/** Runs a command body and maps failures to exit codes: 2 usage, 1 data/other, 0 success. */
export async function runCli(usage: string, io: CliIO, main: () => Promise<void>): Promise<number> {
  try {
    await main();
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}\n\n${usage}\n`);
      return 2;
    }
    if (err instanceof DatasetError) {
      io.err(`error: ${err.message}\n`);
      return 1;
    }
    io.err(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

/** Relative to the working directory when inside it, absolute otherwise (no "../../tmp"). */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel === "" ? "." : rel.startsWith("..") || path.isAbsolute(rel) ? p : rel;
}
