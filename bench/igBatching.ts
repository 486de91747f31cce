import os from "node:os";
import { initBackend, integratedGradients, prepareForExplanation, setWasmKernelOptions } from "@xnn/ml";
import { benchIgChunk, benchIgImage, benchIgModel } from "./lib/igFixture";

// `pnpm bench igBatching [size] [reps] [chunk:grad:forward:stem,...]`: CPU seconds of one Integrated
// Gradients explanation (the `pnpm bench ig` model, 51 points) per configuration of points per batch
// (chunk), 1x1 input-gradient path (auto: rowGemm | xnnpack), 1x1 forward path (auto | xnnpack) and IG path
// (stem: the conv stem path, the default; plain: forced off, integratedGradients' convStem: false),
// each left out meaning the default, the configurations alternating in one
// process so that a loaded machine slows them alike. Default: the previous default (~16 points at
// 128 px scaled by pixels, XNNPACK) against today's (pointsPerBatch, auto).
await initBackend("auto");
const size = Number(process.argv[2] ?? 224);
const reps = Number(process.argv[3] ?? 5);
const built = await benchIgModel(size);
const model = prepareForExplanation(built);
const x = benchIgImage(size);
const oldChunk = Math.max(1, Math.min(64, Math.floor((16 * 128 * 128) / (size * size))));
const newChunk = await benchIgChunk(model, 51);
const spec = process.argv[4] ?? `${oldChunk}:xnnpack,${newChunk}:auto`;
type Cfg = { chunk: number; grad: "auto" | "xnnpack"; forward: "auto" | "xnnpack"; convStem: boolean };
const cfgs: Record<string, Cfg> = {};
for (const part of spec.split(",")) {
  const [c, p, f, stem] = part.split(":");
  if (stem !== undefined && stem !== "stem" && stem !== "plain")
    throw new Error(`igBatching: IG path must be stem or plain, got ${stem}`);
  cfgs[part] = {
    chunk: Number(c),
    grad: p === "xnnpack" ? "xnnpack" : "auto",
    forward: f === "xnnpack" ? "xnnpack" : "auto",
    convStem: stem !== "plain",
  };
}
const run = async (c: Cfg) => {
  setWasmKernelOptions({
    pointwiseInputGradGemm: c.grad !== "xnnpack",
    pointwiseForwardGemm: c.forward !== "xnnpack",
  });
  return integratedGradients(model, x, {
    steps: 50,
    maxSteps: 50,
    target: 0,
    chunkSize: c.chunk,
    convStem: c.convStem,
  });
};
for (const c of Object.values(cfgs)) await run(c);
const cpu: Record<string, number[]> = {};
const wall: Record<string, number[]> = {};
for (const k of Object.keys(cfgs)) {
  cpu[k] = [];
  wall[k] = [];
}
for (let r = 0; r < reps; r++)
  for (const [k, c] of Object.entries(cfgs)) {
    const u0 = process.cpuUsage();
    const t0 = performance.now();
    await run(c);
    const u = process.cpuUsage(u0);
    cpu[k]?.push((u.user + u.system) / 1e6);
    wall[k]?.push((performance.now() - t0) / 1000);
  }
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
const min = (v: number[]) => Math.min(...v);
console.log(`${size} px: chunk:path configurations, alternating; default new chunk ${newChunk}`);
const keys = Object.keys(cfgs);
for (const k of keys)
  console.log(
    `  ${k}: cpu median ${med(cpu[k] as number[]).toFixed(2)} min ${min(cpu[k] as number[]).toFixed(2)}; wall median ${med(wall[k] as number[]).toFixed(2)} [${(cpu[k] as number[]).map((t) => t.toFixed(2)).join(", ")}]`,
  );
for (const k of keys.slice(1))
  console.log(
    `  ${keys[0]} / ${k} cpu: median ${(med(cpu[keys[0] as string] as number[]) / med(cpu[k] as number[])).toFixed(3)}, min ${(min(cpu[keys[0] as string] as number[]) / min(cpu[k] as number[])).toFixed(3)}`,
  );
console.log(
  `  load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
