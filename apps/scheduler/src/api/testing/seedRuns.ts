import type { PrismaClient, Sql } from "@xnn/db";

/**
 * Writes finished-looking runs straight into the database, for tests and the API benchmark: the
 * worker that would normally produce them is another app. Deterministic for a given `seed`.
 */
export interface SeedOptions {
  sweepId: string;
  task: string;
  runs: number;
  /** Epochs of metrics per run. */
  epochs?: number;
  /** [split, name] recorded each epoch; default train and val loss and f1. */
  metrics?: [string, "loss" | "f1"][];
  /** Points per PR curve (3 classes + micro) on the test split; 0 for none. */
  curvePoints?: number;
  /** Best checkpoint + test evaluation + confusion matrix for succeeded runs. */
  artifacts?: boolean;
  /** Status of run i; default: every run succeeded. */
  statusOf?: (i: number) => "queued" | "running" | "succeeded" | "failed" | "cancelled";
  seed?: number;
}

export const SEED_CLASSES = ["bacteria", "normal", "virus"];
export const SEED_MODELS = ["mobilenet_v2", "resnet18", "convnext_v2_atto"] as const;

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export function seedRunId(sweepId: string, i: number): string {
  return `${sweepId}.run-${String(i).padStart(5, "0")}`;
}

async function insertChunked(sql: Sql, table: string, rows: Record<string, unknown>[], maxRows: number) {
  // Postgres allows 65,535 bind parameters per statement.
  const chunk = Math.min(maxRows, Math.floor(60_000 / Object.keys(rows[0] ?? { a: 1 }).length));
  for (let i = 0; i < rows.length; i += chunk) {
    const part = rows.slice(i, i + chunk);
    await sql`INSERT INTO ${sql(table)} ${sql(part as Record<string, string>[])}`;
  }
}

export async function seedRuns(sql: Sql, options: SeedOptions): Promise<string[]> {
  const rand = prng(options.seed ?? 42);
  const epochs = options.epochs ?? 0;
  const statusOf = options.statusOf ?? (() => "succeeded" as const);
  await sql`
    INSERT INTO "Sweep" (id, name, task, fingerprint, "sourceYaml", status, "createdBy", "updatedAt")
    VALUES (${options.sweepId}, ${options.sweepId}, ${options.task}, ${options.sweepId}, 'seeded', 'running', 'seed', now())`;

  const runs: Record<string, unknown>[] = [];
  const ids: string[] = [];
  for (let i = 0; i < options.runs; i++) {
    const id = seedRunId(options.sweepId, i);
    ids.push(id);
    const model = SEED_MODELS[i % SEED_MODELS.length]!;
    const status = statusOf(i);
    const done = status === "succeeded";
    const lr = [0.001, 0.003, 0.01][i % 3]!;
    runs.push({
      id,
      sweepId: options.sweepId,
      key: `${model}-${i % 2 ? "balanced" : "none"}-fe-${i}`,
      config: {
        task: options.task,
        seed: i % 5,
        model: { arch: model, dropout: 0.2 },
        classWeighting: i % 2 ? "balanced" : "none",
        train: { epochs: Math.max(epochs, 1), learningRate: lr, batchSize: 32 },
      },
      configHash: id.padEnd(64, "0").slice(0, 64),
      model,
      classWeighting: i % 2 ? "balanced" : "none",
      stage: "fe",
      jobId: `job-${id}`,
      status,
      epochsDone: done ? epochs : Math.floor(epochs / 2),
      bestEpoch: done ? Math.max(epochs - 1, 0) : null,
      bestValF1: done ? Math.round(rand() * 1e4) / 1e4 : null,
      bestValLoss: done ? Math.round((0.2 + rand()) * 1e4) / 1e4 : null,
      testF1: done ? Math.round(rand() * 1e4) / 1e4 : null,
      queuedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000),
    });
  }
  await insertChunked(sql, "Run", runs, 1000);

  const metricNames =
    options.metrics ??
    ([
      ["train", "f1"],
      ["train", "loss"],
      ["val", "f1"],
      ["val", "loss"],
    ] as const);
  if (epochs > 0) {
    const metrics: Record<string, unknown>[] = [];
    for (const runId of ids) {
      for (let e = 0; e < epochs; e++) {
        for (const [split, name] of metricNames) {
          const value = name === "loss" ? 1 / (e + 1) + rand() * 0.01 : 1 - 1 / (e + 2);
          metrics.push({ runId, epoch: e, split, name, value });
        }
      }
      if (metrics.length >= 10_000) await insertChunked(sql, "EpochMetric", metrics.splice(0), 10_000);
    }
    await insertChunked(sql, "EpochMetric", metrics, 10_000);
  }

  const succeeded = runs.filter((r) => r.status === "succeeded");
  if (options.artifacts) {
    await insertChunked(
      sql,
      "Checkpoint",
      succeeded.map((r) => ({
        id: `ckpt-${r.id}`,
        runId: r.id,
        epoch: r.bestEpoch,
        kind: "best",
        uri: `file:///runs/${r.id}/best`,
        sha256: "0".repeat(64),
        sizeBytes: 1234,
        valF1: r.bestValF1,
      })),
      1000,
    );
    // A full per-class record, as the worker writes it (packages/shared classMetricsSchema).
    const perClass = Object.fromEntries(
      SEED_CLASSES.map((c, k) => [
        c,
        { precision: 0.8, recall: 0.8, f1: 0.8, support: 10, ap: 0.7 + k / 10, tp: 8, fp: 2, fn: 2 },
      ]),
    );
    await insertChunked(
      sql,
      "Evaluation",
      succeeded.map((r) => ({
        id: `eval-${r.id}`,
        runId: r.id,
        split: "test",
        loss: 0.5,
        accuracy: 0.9,
        precision: 0.85,
        recall: 0.84,
        f1: r.testF1,
        perClass,
        microAp: 0.77,
      })),
      1000,
    );
    await insertChunked(
      sql,
      "ConfusionMatrix",
      succeeded.map((r) => ({
        id: `cm-${r.id}`,
        runId: r.id,
        split: "test",
        classNames: SEED_CLASSES,
        counts: [
          [8, 1, 1],
          [0, 9, 1],
          [2, 0, 8],
        ],
      })),
      1000,
    );
  }
  const points = options.curvePoints ?? 0;
  if (points > 0) {
    const rows: Record<string, unknown>[] = [];
    for (const r of succeeded) {
      for (const curve of [...SEED_CLASSES, "micro"]) {
        for (let idx = 0; idx < points; idx++) {
          const recall = 1 - idx / Math.max(points - 1, 1);
          rows.push({
            runId: r.id,
            split: "test",
            curve,
            idx,
            threshold: idx / points,
            precision: 0.5 + recall / 2,
            recall,
          });
        }
      }
      if (rows.length >= 10_000) await insertChunked(sql, "PrCurvePoint", rows.splice(0), 10_000);
    }
    await insertChunked(sql, "PrCurvePoint", rows, 10_000);
  }
  return ids;
}

/**
 * A seeded run's best checkpoint becomes a stored real one (`uri`, `sha256`), and its config names
 * `task` at `imageSize`: what serving a seeded run's model needs.
 */
export async function attachStoredCheckpoint(
  prisma: PrismaClient,
  runId: string,
  stored: { uri: string; sha256: string },
  config: { task: string; imageSize: number },
): Promise<void> {
  await prisma.checkpoint.update({
    where: { id: `ckpt-${runId}` },
    data: { uri: stored.uri, sha256: stored.sha256 },
  });
  await prisma.run.update({
    where: { id: runId },
    data: {
      config: { task: config.task, data: { dir: "/data", imageSize: config.imageSize, augment: false } },
    },
  });
}
