import { randomBytes } from "node:crypto";
import type { PrismaClient } from "../../../packages/db/src/index";

/**
 * Stand-in for the GPU worker: writes what a finished sweep leaves in the database (epoch metrics,
 * val/test evaluations, PR curve points, confusion matrices, best checkpoints, a worker row) for every
 * run of `sweepId`, with metrics that are internally consistent (F1 computed from the confusion
 * matrix) and different per run, so the leaderboard has a clear winner.
 */
export const SEED_CLASSES = ["bacteria", "normal", "virus"] as const;
const PER_CLASS_SUPPORT = 40;
const CURVE_POINTS = 60;

export interface SeededRun {
  id: string;
  key: string;
  testF1: number;
}

/** Mulberry32: tiny, seeded, good enough for fake metrics. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Quality of a run in [0.5, 0.93]: better models, fine-tuning and class weighting help. */
function qualityOf(model: string, classWeighting: string, stage: string): number {
  const byModel: Record<string, number> = { mobilenet_v2: 0.62, resnet18: 0.68, convnext_v2_atto: 0.74 };
  return Math.min(
    0.93,
    (byModel[model] ?? 0.6) + (stage === "ft" ? 0.12 : 0) + (classWeighting === "balanced" ? 0.05 : 0),
  );
}

function confusionFor(quality: number, rand: () => number): number[][] {
  return SEED_CLASSES.map((_, i) => {
    const correct = Math.round(PER_CLASS_SUPPORT * Math.min(0.98, quality + (rand() - 0.5) * 0.12));
    const wrong = PER_CLASS_SUPPORT - correct;
    const toFirst = Math.round(wrong * (0.3 + rand() * 0.4));
    const others = SEED_CLASSES.map((_, j) => j).filter((j) => j !== i);
    const row = [0, 0, 0];
    row[i] = correct;
    row[others[0]!] = toFirst;
    row[others[1]!] = wrong - toFirst;
    return row;
  });
}

function metricsFrom(counts: number[][]) {
  const n = counts.length;
  const total = counts.flat().reduce((a, b) => a + b, 0);
  const perClass: Record<string, Record<string, number>> = {};
  let wp = 0;
  let wr = 0;
  let wf = 0;
  let correct = 0;
  for (let c = 0; c < n; c++) {
    const tp = counts[c]![c]!;
    const support = counts[c]!.reduce((a, b) => a + b, 0);
    const predicted = counts.reduce((a, row) => a + row[c]!, 0);
    const fp = predicted - tp;
    const fn = support - tp;
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[SEED_CLASSES[c]!] = { precision, recall, f1, support, tp, fp, fn, ap: 0 };
    wp += precision * support;
    wr += recall * support;
    wf += f1 * support;
    correct += tp;
  }
  return { perClass, accuracy: correct / total, precision: wp / total, recall: wr / total, f1: wf / total };
}

/** A monotone PR curve from recall 0 to 1 whose area is about `ap`, and that area. */
function prCurve(ap: number, rand: () => number) {
  const sharpness = 1 + (ap / (1 - ap + 1e-3)) * (0.8 + rand() * 0.4);
  const points = [];
  for (let k = 0; k < CURVE_POINTS; k++) {
    const recall = k / (CURVE_POINTS - 1);
    const precision = Math.max(1 / 3, 1 - (1 - 1 / 3) * recall ** sharpness);
    points.push({ recall, precision, threshold: 1 - recall });
  }
  let area = 0;
  for (let k = 1; k < points.length; k++)
    area += (points[k]!.recall - points[k - 1]!.recall) * points[k]!.precision;
  return { points, ap: area };
}

export async function seedFinishedSweep(prisma: PrismaClient, sweepId: string): Promise<SeededRun[]> {
  const runs = await prisma.run.findMany({ where: { sweepId }, orderBy: { key: "asc" } });
  const workerId = "e2e-worker-1";
  await prisma.worker.upsert({
    where: { id: workerId },
    create: {
      id: workerId,
      host: "gpu-node-1",
      pid: 4242,
      gpus: [{ name: "NVIDIA A100-SXM4-40GB", memoryMb: 40960 }],
      backend: "tensorflow",
      version: "0.1.0",
    },
    update: { lastHeartbeat: new Date() },
  });

  const seeded: SeededRun[] = [];
  const started = Date.now() - 60 * 60 * 1000;
  for (const [index, run] of runs.entries()) {
    const rand = prng(index + 1);
    const quality = qualityOf(run.model, run.classWeighting, run.stage);
    const epochs = (run.config as { train?: { epochs?: number } }).train?.epochs ?? 6;

    const metrics = [];
    let bestEpoch = 1;
    let bestValF1 = -1;
    let bestValLoss = Number.POSITIVE_INFINITY;
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const progress = 1 - Math.exp(-epoch / 2);
      const lr = 0.003 * (epoch > epochs * 0.6 ? 0.2 : 1);
      const trainLoss = 1.1 * Math.exp(-epoch / 2.5) + 0.18 + rand() * 0.03;
      const valLoss = trainLoss + 0.06 + rand() * 0.06;
      const trainF1 = Math.min(0.99, quality * progress + 0.08);
      const valF1 = Math.min(0.97, quality * progress + (rand() - 0.5) * 0.03);
      if (valF1 > bestValF1) {
        bestValF1 = valF1;
        bestEpoch = epoch;
        bestValLoss = valLoss;
      }
      for (const [split, loss, f1] of [
        ["train", trainLoss, trainF1],
        ["val", valLoss, valF1],
      ] as const) {
        metrics.push(
          { runId: run.id, epoch, split, name: "loss", value: loss },
          { runId: run.id, epoch, split, name: "f1", value: f1 },
          { runId: run.id, epoch, split, name: "accuracy", value: Math.min(0.99, f1 + 0.02) },
        );
      }
      metrics.push({ runId: run.id, epoch, split: "train", name: "lr", value: lr });
    }

    const evaluations = [];
    const confusions = [];
    const curves = [];
    let testF1 = 0;
    for (const split of ["val", "test"] as const) {
      const counts = confusionFor(quality - (split === "test" ? 0.02 : 0), rand);
      const m = metricsFrom(counts);
      const micro = prCurve(Math.min(0.97, m.accuracy + 0.04), rand);
      for (const [c, name] of SEED_CLASSES.entries()) {
        const curve = prCurve(Math.min(0.97, m.perClass[name]!.f1! + 0.03 + c * 0.01), rand);
        m.perClass[name]!.ap = curve.ap;
        curves.push({ split, curve: name, points: curve.points });
      }
      curves.push({ split, curve: "micro", points: micro.points });
      evaluations.push({
        runId: run.id,
        split,
        loss: bestValLoss + (split === "test" ? 0.02 : 0),
        accuracy: m.accuracy,
        precision: m.precision,
        recall: m.recall,
        f1: m.f1,
        perClass: m.perClass,
        microAp: micro.ap,
      });
      confusions.push({ runId: run.id, split, classNames: [...SEED_CLASSES], counts });
      if (split === "test") testF1 = m.f1;
    }

    await prisma.$transaction([
      prisma.epochMetric.createMany({ data: metrics }),
      prisma.evaluation.createMany({ data: evaluations }),
      prisma.confusionMatrix.createMany({ data: confusions }),
      prisma.prCurvePoint.createMany({
        data: curves.flatMap(({ split, curve, points }) =>
          points.map((p, idx) => ({ runId: run.id, split, curve, idx, ...p })),
        ),
      }),
      prisma.checkpoint.create({
        data: {
          runId: run.id,
          epoch: bestEpoch,
          kind: "best",
          uri: `file:///var/lib/xnn/runs/${run.id}/best/model.json`,
          sha256: randomBytes(32).toString("hex"),
          sizeBytes: BigInt(1_800_000 + index * 250_000),
          valF1: bestValF1,
        },
      }),
      prisma.run.update({
        where: { id: run.id },
        data: {
          status: "succeeded",
          attempt: 1,
          workerId,
          epochsDone: epochs,
          bestEpoch,
          bestValF1,
          bestValLoss,
          testF1,
          startedAt: new Date(started + index * 240_000),
          finishedAt: new Date(started + index * 240_000 + 200_000),
        },
      }),
    ]);
    seeded.push({ id: run.id, key: run.key, testF1 });
  }
  await prisma.sweep.update({ where: { id: sweepId }, data: { status: "succeeded" } });
  return seeded.sort((a, b) => b.testF1 - a.testF1);
}
