import path from "node:path";
import { parseArgs } from "node:util";
import {
  ConfigError,
  connectRedis,
  createRedis,
  DEFAULT_MAX_RUNS,
  EnvError,
  type LoadedSweep,
  loadSweepFile,
  parseEnv,
  postgresUrl,
  queuePrefix,
  RUNS_QUEUE,
  redisUrl,
  sweepIdFor,
} from "@xnn/shared";
import { describeSearch } from "../services/sweeps/describeSearch";
import { showSweepProgress } from "../services/sweeps/sweepProgress";

const USAGE = `Usage: pnpm sweep <sweep.yaml> [options]

Validates a sweep file, expands it into runs, stores them in Postgres and enqueues them on Redis.

Options:
  --dry-run        print the expansion; touch neither Postgres nor Redis
  --json           machine-readable output
  --watch          follow the sweep with live progress until it ends, then print the leaderboard
  --new            start a fresh sweep even if this one was submitted before
  --max-runs N     allow expanding to more than ${DEFAULT_MAX_RUNS} runs
  --api URL        submit through the scheduler API (POST /api/sweeps) instead of writing directly;
                   also XNN_API_URL. The server resolves \`base\` against its own conf dir.
  --token TOKEN    API token with the operator role (also XNN_TOKEN)
  -h, --help       this text

Environment: DATABASE_URL (postgres://...), REDIS_URL (redis://...), XNN_QUEUE_PREFIX (default bull);
with --api only XNN_API_URL and XNN_TOKEN.`;

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      allowPositionals: true,
      options: {
        "dry-run": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        watch: { type: "boolean", default: false },
        new: { type: "boolean", default: false },
        "max-runs": { type: "string" },
        api: { type: "string" },
        token: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  try {
    args = parse();
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = args;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length !== 1) fail(`expected one sweep file, got ${positionals.length}\n\n${USAGE}`);
  const maxRuns = values["max-runs"] === undefined ? DEFAULT_MAX_RUNS : Number(values["max-runs"]);
  if (!Number.isInteger(maxRuns) || maxRuns < 1)
    fail(`--max-runs must be a positive integer, got ${values["max-runs"]}`);

  const file = path.relative(process.cwd(), path.resolve(positionals[0]!)) || positionals[0]!;
  let loaded: LoadedSweep;
  try {
    loaded = loadSweepFile(file, { maxRuns });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }

  if (values["dry-run"]) {
    printExpansion(loaded, values.json);
    return;
  }

  const apiUrl = values.api ?? process.env.XNN_API_URL;
  if (apiUrl) {
    await submitThroughApi(loaded, file, apiUrl, values);
    return;
  }

  let env: { DATABASE_URL: string; REDIS_URL: string; XNN_QUEUE_PREFIX: string };
  try {
    env = parseEnv({ DATABASE_URL: postgresUrl, REDIS_URL: redisUrl, XNN_QUEUE_PREFIX: queuePrefix });
  } catch (err) {
    if (err instanceof EnvError) fail(err.message);
    throw err;
  }
  // Loaded only now: validation and dry runs should not pay for the database and queue clients.
  const [
    { createPrisma },
    { FlowProducer },
    { formatLeaderboard, sweepLeaderboard },
    { EnqueueError, submitSweep },
    { cliActor, recordAuditEvent },
  ] = await Promise.all([
    import("@xnn/db"),
    import("bullmq"),
    import("../services/sweeps/leaderboard"),
    import("@xnn/orchestration"),
    import("../services/auth/auditEvents"),
  ]);
  const prisma = createPrisma(env.DATABASE_URL);
  const connection = createRedis(env.REDIS_URL, "producer");
  // Checked before anything is written, so an unreachable Redis leaves no trace at all.
  try {
    await connectRedis(connection, env.REDIS_URL);
  } catch (err) {
    await prisma.$disconnect();
    fail((err as Error).message, 1);
  }
  const flows = new FlowProducer({ connection, prefix: env.XNN_QUEUE_PREFIX });
  try {
    const result = await submitSweep({ prisma, flows }, loaded, { fresh: values.new, createdBy: "cli" });
    await recordAuditEvent(prisma, {
      actor: cliActor(),
      actorRole: null,
      tokenId: null,
      action: "sweep.submit",
      targetId: result.sweepId,
      outcome: "ok",
      status: result.created ? 201 : 200,
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...result, ...expansionJson(loaded, result.sweepId) })}\n`);
    } else if (result.created) {
      process.stdout.write(
        `Created sweep ${result.sweepId}: ${result.runs} runs, ${result.jobs} jobs queued on ${RUNS_QUEUE}.\n`,
      );
    } else {
      process.stdout.write(
        `Sweep ${result.sweepId} already exists (status ${result.status}); nothing new was enqueued. Use --new to run it again.\n`,
      );
    }
    if (values.watch) {
      await showSweepProgress(prisma, result.sweepId);
      process.stdout.write(`\n${formatLeaderboard(await sweepLeaderboard(prisma, result.sweepId))}\n`);
    }
  } catch (err) {
    if (err instanceof EnqueueError) fail(err.message, 1);
    fail(`sweep failed: ${(err as Error).message}`, 1);
  } finally {
    await flows.close().catch(() => {});
    connection.disconnect();
    await prisma.$disconnect();
  }
}

async function submitThroughApi(
  loaded: LoadedSweep,
  file: string,
  apiUrl: string,
  values: { token?: string; new: boolean; json: boolean; watch: boolean },
): Promise<void> {
  if (values.watch) fail("--watch reads the database directly; it cannot be combined with --api");
  const token = values.token ?? process.env.XNN_TOKEN;
  if (!token)
    fail(
      "--api needs a token: --token TOKEN or XNN_TOKEN (create one with `pnpm xnn token create --role operator`)",
    );
  const { ApiSubmitError, submitViaApi } = await import("../services/sweeps/submitViaApi");
  try {
    const result = await submitViaApi({ apiUrl, token, yaml: loaded.sourceText, fresh: values.new, file });
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ ...result, sweepId: result.id, ...expansionJson(loaded, result.id) })}\n`,
      );
    } else if (result.created) {
      process.stdout.write(
        `Created sweep ${result.id} via ${apiUrl}: ${result.runs} runs, ${result.jobs} jobs queued.\n`,
      );
    } else {
      process.stdout.write(
        `Sweep ${result.id} already exists (status ${result.status}); nothing new was enqueued. Use --new to run it again.\n`,
      );
    }
  } catch (err) {
    if (err instanceof ApiSubmitError) fail(err.message, err.status === 400 ? 2 : 1);
    throw err;
  }
}

function expansionJson(loaded: LoadedSweep, sweepId: string) {
  return {
    sweep: {
      id: sweepId,
      name: loaded.name,
      task: loaded.task,
      fingerprint: loaded.fingerprint,
      source: loaded.sourcePath ?? null,
      runs: loaded.runs.length,
      // bayes keeps its base pipelines for later proposals; they are not part of the expansion.
      search: { ...loaded.search, bases: undefined, baseIsDirectory: undefined },
    },
    runs: loaded.runs.map((r) => ({
      key: r.key,
      model: r.model,
      classWeighting: r.classWeighting,
      stage: r.stage,
      dependsOn: r.dependsOn,
      configHash: r.configHash,
      ...(r.params ? { trial: r.trial, params: r.params } : {}),
    })),
  };
}

function printExpansion(loaded: LoadedSweep, json: boolean): void {
  const sweepId = sweepIdFor(loaded.name, loaded.fingerprint);
  if (json) {
    process.stdout.write(`${JSON.stringify(expansionJson(loaded, sweepId), null, 2)}\n`);
    return;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  for (const line of describeSearch(
    loaded.search,
    loaded.runs.map((r) => r.config.train.epochs),
  ))
    out(line);
  if (loaded.search.method === "bayes") {
    out(
      `Sweep ${loaded.name} (task ${loaded.task}) starts with ${loaded.runs.length} runs drawn at random; ` +
        "the rest are proposed from the finished ones:",
    );
  } else {
    out(`Sweep ${loaded.name} (task ${loaded.task}) expands to ${loaded.runs.length} runs:`);
  }
  for (const r of loaded.runs) {
    const after = r.dependsOn ? `  after ${r.dependsOn}` : "";
    const params = r.params
      ? `  ${Object.entries(r.params)
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(" ")}`
      : "";
    out(`  ${r.key.padEnd(40)} ${r.configHash.slice(0, 12)}${params}${after}`);
  }
}

main().catch((err) => fail(`unexpected error: ${(err as Error).stack ?? err}`, 1));
