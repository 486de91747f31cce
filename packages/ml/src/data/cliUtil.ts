import { type ParseArgsConfig, parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { DatasetError } from "./errors.js";

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

/** cli-progress bar on a terminal; sparse plain lines otherwise (CI logs, piped output). */
export function progressReporter(label: string): {
  update: (done: number, total: number) => void;
  stop: () => void;
} {
  if (process.stderr.isTTY) {
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
      if (pct !== lastPct || done === total) {
        if (pct !== lastPct) process.stderr.write(`${label}: ${done}/${total} (${pct}%)\n`);
        lastPct = pct;
      }
    },
    stop() {},
  };
}

/** Uniform exit codes: 2 for usage errors, 1 for data errors, with the message on stderr. */
export async function runCli(usage: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${usage}\n`);
      process.exitCode = 2;
    } else if (err instanceof DatasetError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
