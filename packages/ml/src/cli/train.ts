import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { BACKEND_KINDS, ConfigError } from "@xnn/shared";
import cliProgress from "cli-progress";
import { type BackendKind, initBackend } from "../backend/index.js";
import { formatSkipped } from "../data/loader.js";
import type { TrainingHook } from "../train/hooks/trainingHook.js";
import { loadPipelineFile, parseOverride } from "../train/loadPipeline.js";
import { readResumeState } from "../train/resume.js";
import { runPipeline } from "../train/runPipeline.js";
import type { EpochMetrics } from "../train/types.js";

const USAGE = `usage: pnpm train <pipeline.yaml> [--out runs] [--backend auto|wasm|cpu] [--init <fe-run>/checkpoint]
                  [--resume <run-dir>] [--id <run-id>] [--set key=value ...]

Trains one pipeline stage without queue or database and writes <out>/<id>/:
  config.json, metrics.jsonl (one line per epoch), evaluation.json (test split, best checkpoint),
  predictions.json, explanation.json (explanation quality of the best checkpoint on
  eval.probePerClass test images per class; skipped when 0), checkpoint/ (best val weighted F1),
  resume/ (last epoch, for --resume).
FT stages start from an FE run's best checkpoint: --init runs/<fe-id>/checkpoint.
--set overrides a key of the file, e.g. --set train.epochs=3 --set data.imageSize=64.`;

class UsageError extends Error {}

function fmt(n: number, d = 4): string {
  return Number.isFinite(n) ? n.toFixed(d) : String(n);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { values, positionals } = (() => {
    try {
      return parseArgs({
        args: argv[0] === "--" ? argv.slice(1) : argv,
        allowPositionals: true,
        strict: true,
        options: {
          out: { type: "string", default: "runs" },
          // XNN_BACKEND, as for workers; --backend overrides it.
          backend: { type: "string", default: process.env.XNN_BACKEND || "auto" },
          init: { type: "string" },
          resume: { type: "string" },
          id: { type: "string" },
          set: { type: "string", multiple: true, default: [] },
          help: { type: "boolean", short: "h", default: false },
        },
      });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  })();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length !== 1) throw new UsageError("exactly one pipeline file is required");
  const file = positionals[0] as string;
  const backend = values.backend as BackendKind;
  if (!(BACKEND_KINDS as readonly string[]).includes(backend))
    throw new UsageError(`--backend must be one of ${BACKEND_KINDS.join(", ")}, got "${backend}"`);
  const overrides = (values.set ?? []).map((s) => {
    try {
      return parseOverride(s);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
  const config = loadPipelineFile(file, overrides);
  if (config.stage.kind === "ft" && !values.init && !values.resume && !config.model.pretrainedDir) {
    process.stderr.write("warning: FT stage without --init: the backbone starts from random weights\n");
  }
  if (values.init && !existsSync(path.join(values.init, "model.json"))) {
    throw new UsageError(`--init ${values.init} has no model.json (expected runs/<fe-id>/checkpoint)`);
  }

  let runDir: string;
  let resume = null;
  if (values.resume) {
    runDir = path.resolve(values.resume);
    resume = await readResumeState(runDir);
    if (!resume) throw new UsageError(`--resume ${values.resume}: no completed epoch to resume from`);
  } else {
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
    const id =
      values.id ?? `${path.basename(file, path.extname(file))}-${stamp}-${randomBytes(2).toString("hex")}`;
    runDir = path.resolve(values.out ?? "runs", id);
    if (existsSync(runDir))
      throw new UsageError(`run directory ${runDir} already exists (use --resume to continue it)`);
  }
  await mkdir(runDir, { recursive: true });
  await writeFile(
    path.join(runDir, "config.json"),
    `${JSON.stringify({ source: path.resolve(file), overrides, initFrom: values.init ? path.resolve(values.init) : null, config }, null, 2)}\n`,
  );

  const choice = await initBackend(backend);
  process.stdout.write(
    `backend: ${choice.backend} (${choice.reason})\nrun: ${path.relative(process.cwd(), runDir) || runDir}\n`,
  );

  const tty = process.stderr.isTTY;
  const bar = new cliProgress.SingleBar(
    {
      format: "epoch {epoch} [{bar}] {value}/{total} batches | {rate} batch/s | eta {eta}s",
      stream: process.stderr,
      noTTYOutput: !tty,
      notTTYSchedule: 10_000,
      hideCursor: tty,
    },
    cliProgress.Presets.shades_classic,
  );
  let barActive = false;
  const writeLine = (s: string) => {
    if (barActive) bar.stop();
    barActive = false;
    process.stdout.write(`${s}\n`);
  };
  let epochStart = Date.now();
  // Lives between the epoch's start and its log line (writeLine stops it).
  const progressBar: TrainingHook = {
    onEpochStart: (loop) => {
      epochStart = Date.now();
      bar.start(loop.stepsPerEpoch, 0, { epoch: loop.epoch, rate: "-" });
      barActive = true;
    },
    onBatchEnd: (loop, done) => {
      const secs = (Date.now() - epochStart) / 1000;
      bar.update(done, { epoch: loop.epoch, rate: secs > 0 ? (done / secs).toFixed(2) : "-" });
    },
  };

  const metricsFile = path.join(runDir, "metrics.jsonl");
  const result = await runPipeline(config, {
    runDir,
    ...(values.init ? { initFrom: values.init } : {}),
    ...(resume ? { resumeFrom: resume } : {}),
    log: (msg, fields, level) =>
      writeLine(
        `${level === "warn" ? "warning: " : ""}${msg}${fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ""}`,
      ),
    onEpoch: async (m: EpochMetrics) => {
      if (barActive) bar.stop();
      barActive = false;
      await appendFile(metricsFile, `${JSON.stringify(m)}\n`);
    },
    hooks: [progressBar],
  });

  const quality = result.explanation;
  if (quality)
    await writeFile(path.join(runDir, "explanation.json"), `${JSON.stringify(quality, null, 1)}\n`);

  await writeFile(path.join(runDir, "evaluation.json"), `${JSON.stringify(result.test, null, 1)}\n`);
  await writeFile(path.join(runDir, "predictions.json"), `${JSON.stringify(result.predictions, null, 1)}\n`);
  await writeFile(
    path.join(runDir, "summary.json"),
    `${JSON.stringify({ ...result, test: undefined, predictions: undefined, history: undefined, explanation: undefined }, null, 2)}\n`,
  );

  const t = result.test;
  const lines = [
    "",
    `summary (${path.relative(process.cwd(), runDir) || runDir})`,
    `  stage ${config.stage.kind}, ${config.model.arch}${config.model.arch === "mobilenet_v2" ? ` x${config.model.widthMultiplier}` : ""}, ${config.data.imageSize}px, backend ${result.backend}${result.cachedFeatures ? ", head trained on cached features" : ""}${result.microBatchSize < config.train.batchSize ? `, batch ${config.train.batchSize} in micro-batches of at most ${result.microBatchSize}` : ""}`,
    `  epochs run ${result.epochsRun}${result.stoppedEarly ? " (early stop)" : ""}, best epoch ${result.bestEpoch}, best val weighted F1 ${fmt(result.bestValF1)}`,
    `  test (best checkpoint): accuracy ${fmt(t.accuracy)}, weighted P ${fmt(t.precision)} R ${fmt(t.recall)} F1 ${fmt(t.f1)}, micro AP ${fmt(t.microAp)}`,
    ...t.classNames.map((c) => {
      const pc = t.perClass[c];
      return pc
        ? `    ${c.padEnd(12)} P ${fmt(pc.precision, 3)} R ${fmt(pc.recall, 3)} F1 ${fmt(pc.f1, 3)} AP ${fmt(pc.ap, 3)} n=${pc.support}`
        : "";
    }),
    `  confusion (rows true, cols predicted): ${JSON.stringify(t.confusion)}`,
    quality
      ? `  explanation (${quality.probeImages} probe images, baseline ${quality.baseline}, ${(quality.durationMs / 1000).toFixed(1)} s): completeness gap ${fmt(quality.completenessGap)} (mean ${quality.stepsUsed.toFixed(0)} steps used), deletion AUC ${fmt(quality.deletionAuc)} (lower is better), insertion AUC ${fmt(quality.insertionAuc)}, mask share ${quality.maskShare === null ? "n/a (no masks)" : fmt(quality.maskShare)}`
      : config.eval.probePerClass > 0
        ? "  explanation quality failed (see the warning above); the other results are complete"
        : "  explanation quality skipped (eval.probePerClass 0)",
    `  checkpoint ${path.relative(process.cwd(), result.bestCheckpoint.dir)} sha256 ${result.bestCheckpoint.sha256.slice(0, 16)}… ${(result.bestCheckpoint.sizeBytes / 1e6).toFixed(2)} MB`,
    `  ${formatSkipped(result.skipped)}`,
    `  wall time ${(result.durationMs / 1000).toFixed(1)} s`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

try {
  await main();
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n\n${USAGE}\n`);
    process.exitCode = 2;
  } else if (err instanceof ConfigError) {
    process.stderr.write(
      `invalid pipeline config:\n${err.issues.map((i) => `  ${i.file ?? ""}${i.line ? `:${i.line}:${i.col}` : ""} ${i.path}: ${i.message}`).join("\n")}\n`,
    );
    process.exitCode = 2;
  } else {
    process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
