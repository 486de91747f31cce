import os from "node:os";
import { parseArgs } from "node:util";
import { initBackend, integratedGradients, PhaseProfiler, prepareForExplanation } from "@xnn/ml";
import { benchIgChunk, benchIgImage, benchIgModel } from "./lib/igFixture";

// `pnpm bench igProfile [--sizes 128,224] [--steps 50] [--top 15] [--chunk N] [--paths stem,plain]`: where one Integrated Gradients
// explanation spends its time, per kernel (self time) and by pass (the forward pass inside the
// gradient tape, its backward pass, work outside the tape), for the model `pnpm bench ig` times
// (MobileNetV2 1.0 + head, batch norms folded as production explains). One warm-up explanation
// first; the profiled one has fixed `steps` intervals (steps + 1 gradient evaluations). `--paths`:
// integratedGradients' conv stem path (the default) and/or the plain one (convStem: false), profiled
// one after the other on the same model.
const { values: a } = parseArgs({
  options: {
    sizes: { type: "string", default: "128,224" },
    steps: { type: "string", default: "50" },
    top: { type: "string", default: "15" },
    // Path points per forward/backward batch; default integratedGradients' rule.
    chunk: { type: "string" },
    paths: { type: "string", default: "stem" },
  },
});
const steps = Number(a.steps);
const top = Number(a.top);
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const backend = await initBackend("auto");
console.log(`backend ${backend.backend}; ${os.availableParallelism()} cores; load ${load()} (1/5/15 min)`);
for (const size of (a.sizes as string).split(",").map(Number)) {
  const built = await benchIgModel(size);
  const model = prepareForExplanation(built);
  const x = benchIgImage(size);
  const chunk = await benchIgChunk(model, steps + 1, a.chunk as string | undefined);
  for (const igPath of (a.paths as string).split(",")) {
    if (igPath !== "stem" && igPath !== "plain")
      throw new Error(`igProfile: --paths takes stem and plain, got ${igPath}`);
    const opts = { steps, maxSteps: steps, target: 0, chunkSize: chunk, convStem: igPath === "stem" };
    await integratedGradients(model, x, opts);
    const profiler = new PhaseProfiler();
    const undo = profiler.installKernelTimers();
    const t0 = performance.now();
    try {
      await integratedGradients(model, x, opts);
    } finally {
      undo();
    }
    const wall = performance.now() - t0;
    const { kernels } = profiler.report();
    const total = kernels.reduce((s, k) => s + k.ms, 0);
    const by = (place: string) => kernels.filter((k) => k.place === place).reduce((s, k) => s + k.ms, 0);
    console.log(
      `\n## ${size} px, ${igPath} path, ${steps + 1} gradient evaluations, chunk ${chunk}: ${(wall / 1000).toFixed(2)} s (load ${load()})`,
    );
    console.log(
      `kernels ${(total / 1000).toFixed(2)} s (forward ${(by("forward") / 1000).toFixed(2)}, backward ${(by("backward") / 1000).toFixed(2)}, outside the tape ${(by("other") / 1000).toFixed(2)}); the rest (dispatch, JS) ${((wall - total) / 1000).toFixed(2)} s`,
    );
    const grouped = new Map<string, { ms: number; count: number }>();
    for (const k of kernels) {
      const key = `${k.place} ${k.name}`;
      const e = grouped.get(key) ?? { ms: 0, count: 0 };
      e.ms += k.ms;
      e.count += k.count;
      grouped.set(key, e);
    }
    console.log(`top ${top} kernels                              ms   calls  share of wall`);
    for (const [name, e] of [...grouped].sort((p, q) => q[1].ms - p[1].ms).slice(0, top))
      console.log(
        `  ${name.padEnd(44)}${e.ms.toFixed(0).padStart(6)}  ${String(e.count).padStart(6)}   ${((100 * e.ms) / wall).toFixed(1).padStart(5)}%`,
      );
  }
  model.dispose();
  built.dispose();
}
