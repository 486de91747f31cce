import type { PrismaClient } from "@xnn/db";
import { type ExplanationSummary, productionRunIds, type RunRow, runRowSelect, toRunRow } from "./runRows";

export interface EvaluationSummary {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  perClass: unknown;
  microAp: number;
  loss: number | null;
}

/** One probe image's scores, as the worker stored them. */
export interface ProbeImageScore {
  path: string;
  label: number;
  completenessGap: number | null;
  stepsUsed: number;
  deletionAuc: number | null;
  insertionAuc: number | null;
  maskShare: number | null;
}

export interface RunDetail extends RunRow {
  /** The list row's summary plus each probe image's scores. */
  explanation: (ExplanationSummary & { perImage: ProbeImageScore[] }) | null;
  config: unknown;
  feRunId: string | null;
  evaluations: { val?: EvaluationSummary; test?: EvaluationSummary };
  confusion: { [split: string]: { classNames: string[]; counts: unknown } };
  checkpoint: { uri: string; sha256: string; sizeBytes: number; epoch: number; valF1: number | null } | null;
  worker: { id: string; host: string; backend: string } | null;
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
      perClass: e.perClass,
      microAp: e.microAp,
      loss: e.loss,
    };
  }
  const best = checkpoints.find((c) => c.epoch === run.bestEpoch) ?? checkpoints[0];
  const test = evaluations.find((e) => e.split === "test");
  const rowOut = toRunRow(row, production, test);
  return {
    ...rowOut,
    explanation: rowOut.explanation
      ? {
          ...rowOut.explanation,
          perImage: Array.isArray(test?.explainPerImage)
            ? (test.explainPerImage as unknown as ProbeImageScore[])
            : [],
        }
      : null,
    config: run.config,
    feRunId,
    evaluations: evals,
    confusion: Object.fromEntries(
      confusions.map((c) => [c.split, { classNames: c.classNames, counts: c.counts }]),
    ),
    // BigInt does not survive JSON; checkpoints are far below 2^53 bytes.
    checkpoint: best ? { ...best, sizeBytes: Number(best.sizeBytes) } : null,
    worker,
  };
}
