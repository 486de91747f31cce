import { parseArgs } from "node:util";

export const USAGE = `Usage: pnpm demo [--exit] [--port 4000]

Starts everything xnn needs on this machine, runs the demo sweep (conf/demo.yaml) on synthetic
chest X-rays, prints the leaderboard, promotes the best run and prints the dashboard URL with a
login token. Services stay up until Ctrl-C (press it twice to force).

Options:
  --exit        stop everything after the report; exit code 0 only if the sweep succeeded
  --port N      port for the API and the dashboard (default 4000, or a free one if 4000 is taken)
  -h, --help    this text

Environment:
  DATABASE_URL  use this Postgres instead of starting PGlite (embedded Postgres) under .xnn/pglite
  REDIS_URL     use this Redis instead of starting redis-server from PATH on a free port
  XNN_DEMO_HOME where the demo keeps its state (default .xnn/ in the repository)
  XNN_DEMO_SWEEP the sweep file to run (default conf/demo.yaml)`;

export interface DemoArgs {
  exitAfterReport: boolean;
  /** null: 4000 if free, else any free port. */
  port: number | null;
  help: boolean;
}

export class UsageError extends Error {
  override name = "UsageError";
}

export function parseDemoArgs(argv: string[]): DemoArgs {
  let values: { exit?: boolean; port?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        exit: { type: "boolean", default: false },
        port: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  let port: number | null = null;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new UsageError(`--port must be a port number (1-65535), got ${values.port}`);
    }
  }
  return { exitAfterReport: values.exit ?? false, port, help: values.help ?? false };
}
