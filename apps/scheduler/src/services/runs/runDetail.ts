import type { PrismaClient } from "@xnn/db";
import {
  type ClassMetrics,
  type EvaluationSummary,
  type RunDetail,
  type StoredProbeScore,
  storedProbeScoresSchema,
} from "@xnn/shared/records";
import { productionRunIds, runRowSelect, toRunRow } from "./runRows";

export type { RunDetail };

/**
 * The per-image scores of a test evaluation, parsed as stored (rows written by any version since
 * the column exists have this shape); none when the column is empty.
 */
function probeScores(runId: string, stored: unknown): StoredProbeScore[] {
  if (stored === null || stored === undefined) return [];
  const parsed = storedProbeScoresSchema.safeParse(stored);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `run ${runId}: Evaluation.explainPerImage${issue?.path.length ? `[${issue.path.join("].")}` : ""} does not hold probe scores: ${issue?.message}`,
    );
  }
  return parsed.data;
}

export async function getRunDetail(prisma: PrismaClient, id: string): Promise<RunDetail | null> {
  const run = await prisma.run.findUnique({
    where: { id },
    select: {
      ...runRowSelect,
      feRunId: true,
      evaluations: true,
      confusions: { select: { split: true, classNames: true, counts: true } },
      checkpoints: {
        where: { kind: "best" },
        orderBy: { epoch: "desc" },
        select: { uri: true, sha256: true, sizeBytes: true, epoch: true, valF1: true },
      },
      worker: { select: { id: true, host: true, backend: true } },
    },
  });
  if (!run) return null;
  const { evaluations, confusions, checkpoints, worker, feRunId, ...row } = run;
  const production = await productionRunIds(prisma, [id]);
  const evals: RunDetail["evaluations"] = {};
  for (const e of evaluations) {
    if (e.split !== "val" && e.split !== "test") continue;
    evals[e.split] = {
      accuracy: e.accuracy,
      precision: e.precision,
      recall: e.recall,
      f1: e.f1,
      // JSON the worker wrote from the same record type; passed through unparsed, as always.
      perClass: e.perClass as Record<string, ClassMetrics>,
      microAp: e.microAp,
      loss: e.loss,
    } satisfies EvaluationSummary;
  }
  const best = checkpoints.find((c) => c.epoch === run.bestEpoch) ?? checkpoints[0];
  const test = evaluations.find((e) => e.split === "test");
  const rowOut = toRunRow(row, production, test);
  return {
    ...rowOut,
    explanation: rowOut.explanation
      ? { ...rowOut.explanation, perImage: probeScores(id, test?.explainPerImage) }
      : null,
    config: run.config,
    feRunId,
    evaluations: evals,
    confusion: Object.fromEntries(
      confusions.map((c) => [c.split, { classNames: c.classNames, counts: c.counts as number[][] }]),
    ),
    // BigInt does not survive JSON; checkpoints are far below 2^53 bytes.
    checkpoint: best ? { ...best, sizeBytes: Number(best.sizeBytes) } : null,
    worker,
  };
}
