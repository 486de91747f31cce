import path from "node:path";
import { parseArgs } from "node:util";
import {
  decodeImage,
  initBackend,
  integratedGradients,
  loadCheckpoint,
  pixelAttributions,
  prepareForExplanation,
  type QuadratureRule,
  scanDataset,
  tf,
} from "@xnn/ml";
import { benchIgImage, benchIgModel } from "./lib/igFixture";

// `pnpm bench ig-evals --checkpoint DIR --data DIR [--size 64] [--count 20] [--schemes ...]`:
// what an Integrated Gradients scheme costs in load-independent units, no timing. For each scheme
// (rule:initialSteps) over a fixed set of test images: gradient evaluations (path points) and
// forward/backward batches per explanation, the completeness gap, and the relative L2 distance of
// the attributions from a reference integral (trapezoid from 128 intervals, tolerance 0.2%), which shows whether a
// cheaper scheme reached the 5% gap by being accurate or by luck (errors that cancel in the sum);
// the same for the channel-summed map the overlay draws, and how many of the reference map's top 10%
// pixels the scheme's top 10% keeps.
// --size other than the checkpoint's: the same weights in the same graph at that input size
// (global pooling makes the network size-free), images decoded at that size.
// --bench-model: also the model and image `pnpm bench ig` times (random MobileNetV2, seed 1,
// sin image, class 0), at --size.
const { values: a } = parseArgs({
  options: {
    checkpoint: { type: "string", multiple: true, default: [] },
    data: { type: "string" },
    size: { type: "string" },
    count: { type: "string", default: "20" },
    schemes: { type: "string", default: "trapezoid:50,trapezoid:16,simpson:16,simpson:8" },
    tolerance: { type: "string", default: "0.05" },
    "reference-tolerance": { type: "string", default: "0.002" },
    "reference-steps": { type: "string", default: "128" },
    "bench-model": { type: "boolean", default: false },
  },
});
const tolerance = Number(a.tolerance);
const refTolerance = Number(a["reference-tolerance"]);
const schemes = (a.schemes as string).split(",").map((s) => {
  const [rule, steps] = s.split(":");
  if ((rule !== "trapezoid" && rule !== "simpson") || !Number.isInteger(Number(steps)) || Number(steps) < 1) {
    throw new Error(`--schemes: "${s}" is not rule:steps with rule trapezoid|simpson`);
  }
  return { name: s, rule: rule as QuadratureRule, steps: Number(steps) };
});

const backend = await initBackend("auto");
console.error(`backend ${backend.backend}: ${backend.reason}`);

/** The model's graph with a different input size and the same weights. */
async function atSize(model: tf.LayersModel, size: number): Promise<tf.LayersModel> {
  const json = model.toJSON(null, false) as unknown as {
    config: { layers: { class_name: string; config: { batch_input_shape?: (number | null)[] } }[] };
  };
  for (const l of json.config.layers) {
    if (l.class_name === "InputLayer") l.config.batch_input_shape = [null, size, size, 3];
  }
  const resized = (await tf.models.modelFromJSON(json as unknown as tf.io.ModelJSON)) as tf.LayersModel;
  resized.setWeights(model.getWeights());
  return resized;
}

/** Every k-th test image in path order: a fixed set that covers every class. */
function pick<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items;
  const step = items.length / count;
  return Array.from({ length: count }, (_, i) => items[Math.floor(i * step)] as T);
}

interface Case {
  label: string;
  model: tf.LayersModel;
  images: { name: string; x: Float32Array; target?: number }[];
}

const cases: Case[] = [];
for (const dir of a.checkpoint as string[]) {
  if (!a.data) throw new Error("--checkpoint needs --data (a data set with a test split)");
  const loaded = await loadCheckpoint(dir);
  const native = loaded.inputs[0]?.shape[1] as number;
  const size = a.size ? Number(a.size) : native;
  const model = size === native ? loaded : await atSize(loaded, size);
  if (model !== loaded) loaded.dispose();
  const scanned = await scanDataset(path.resolve(a.data));
  const images = [];
  for (const item of pick(scanned.splits.test, Number(a.count))) {
    images.push({
      name: item.path,
      x: await decodeImage(path.join(scanned.root, item.path), { imageSize: size }),
    });
  }
  cases.push({
    label: `${path.basename(path.dirname(dir))} @${size}px`,
    model: prepareForExplanation(model),
    images,
  });
}
if (a["bench-model"]) {
  const size = Number(a.size ?? 128);
  const model = await benchIgModel(size);
  const x = benchIgImage(size);
  cases.push({
    label: `bench ig model @${size}px`,
    model: prepareForExplanation(model),
    images: [{ name: "sin", x, target: 0 }],
  });
}
if (cases.length === 0)
  throw new Error("nothing to count: pass --checkpoint DIR --data DIR and/or --bench-model");

const q = (v: number[], p: number) =>
  [...v].sort((x, y) => x - y)[Math.min(v.length - 1, Math.floor(p * v.length))] as number;
const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const l2 = (u: Float32Array, v: Float32Array) => {
  let d = 0;
  let r = 0;
  for (let i = 0; i < u.length; i++) {
    d += ((u[i] as number) - (v[i] as number)) ** 2;
    r += (v[i] as number) ** 2;
  }
  return Math.sqrt(d / Math.max(r, 1e-30));
};

/** Share of the reference's top-10% pixels (|channel-summed attribution|) that are also in u's top 10%. */
const top10 = (u: Float32Array, ref: Float32Array) => {
  const top = (v: Float32Array) => {
    const order = Array.from(v.keys()).sort((i, j) => Math.abs(v[j] as number) - Math.abs(v[i] as number));
    return new Set(order.slice(0, Math.max(1, Math.floor(v.length / 10))));
  };
  const [tu, tr] = [top(u), top(ref)];
  let both = 0;
  for (const i of tr) if (tu.has(i)) both++;
  return both / tr.size;
};

const summary: Record<string, unknown>[] = [];
for (const c of cases) {
  const rows = new Map(
    schemes.map((s) => [
      s.name,
      {
        evals: [] as number[],
        batches: [] as number[],
        gaps: [] as number[],
        err: [] as number[],
        mapErr: [] as number[],
        top: [] as number[],
      },
    ]),
  );
  const refEvals: number[] = [];
  for (const img of c.images) {
    const ref = await integratedGradients(c.model, img.x, {
      target: img.target,
      rule: "trapezoid",
      steps: Number(a["reference-steps"]),
      tolerance: refTolerance,
    });
    refEvals.push(ref.stepsUsed + 1);
    const line = [
      `${img.name}: delta ${(ref.fx - ref.fBaseline).toFixed(4)}, reference ${ref.stepsUsed + 1} evals gap ${ref.completenessGap.toFixed(4)}`,
    ];
    for (const s of schemes) {
      const r = await integratedGradients(c.model, img.x, {
        target: ref.target,
        rule: s.rule,
        steps: s.steps,
        tolerance,
      });
      const row = rows.get(s.name) as {
        evals: number[];
        batches: number[];
        gaps: number[];
        err: number[];
        mapErr: number[];
        top: number[];
      };
      row.evals.push(r.stepsUsed + 1);
      row.batches.push(r.batches);
      row.gaps.push(r.completenessGap);
      row.err.push(l2(r.attributions, ref.attributions));
      const pixels = r.attributions.length / 3;
      const [mu, mr] = [
        pixelAttributions(r.attributions, pixels),
        pixelAttributions(ref.attributions, pixels),
      ];
      row.mapErr.push(l2(mu, mr));
      row.top.push(top10(mu, mr));
      line.push(
        `${s.name} ${r.stepsUsed + 1}/${r.batches} gap ${r.completenessGap.toFixed(3)} err ${row.err.at(-1)?.toFixed(3)} map ${row.mapErr.at(-1)?.toFixed(3)} top10 ${row.top.at(-1)?.toFixed(2)}`,
      );
    }
    console.error(line.join(" | "));
  }
  console.log(
    `\n${c.label}: ${c.images.length} image(s), tolerance ${tolerance}; reference median ${q(refEvals, 0.5)} evaluations`,
  );
  console.log(
    "scheme           evals mean  med  p90  max | batches mean  max | gap<5%  gap med  gap max | attr err med  p90   max | map err med  p90 | top10% med  min",
  );
  for (const s of schemes) {
    const r = rows.get(s.name) as {
      evals: number[];
      batches: number[];
      gaps: number[];
      err: number[];
      mapErr: number[];
      top: number[];
    };
    const under = r.gaps.filter((g) => g < 0.05).length / r.gaps.length;
    console.log(
      `${s.name.padEnd(16)} ${mean(r.evals).toFixed(1).padStart(10)} ${String(q(r.evals, 0.5)).padStart(4)} ${String(q(r.evals, 0.9)).padStart(4)} ${String(Math.max(...r.evals)).padStart(4)} | ${mean(r.batches).toFixed(1).padStart(12)} ${String(Math.max(...r.batches)).padStart(4)} | ${(under * 100).toFixed(0).padStart(5)}%  ${q(r.gaps, 0.5).toFixed(4)}   ${Math.max(...r.gaps).toFixed(4)} | ${q(r.err, 0.5).toFixed(4).padStart(12)} ${q(r.err, 0.9).toFixed(4)} ${Math.max(...r.err).toFixed(4)} | ${q(r.mapErr, 0.5).toFixed(4).padStart(11)} ${q(r.mapErr, 0.9).toFixed(4)} | ${q(r.top, 0.5).toFixed(3).padStart(10)} ${Math.min(...r.top).toFixed(3)}`,
    );
    summary.push({
      case: c.label,
      scheme: s.name,
      images: c.images.length,
      evaluationsMean: mean(r.evals),
      evaluationsMedian: q(r.evals, 0.5),
      evaluationsMax: Math.max(...r.evals),
      batchesMean: mean(r.batches),
      gapUnder5pct: under,
      gapMax: Math.max(...r.gaps),
      attributionErrorMedian: q(r.err, 0.5),
      attributionErrorP90: q(r.err, 0.9),
      mapErrorMedian: q(r.mapErr, 0.5),
      top10OverlapMedian: q(r.top, 0.5),
    });
  }
  c.model.dispose();
}
console.log(`\n${JSON.stringify(summary)}`);
