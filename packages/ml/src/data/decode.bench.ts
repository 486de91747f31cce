/**
 * Decode throughput (wall-clock, and per CPU-second, which is what matters on a loaded machine) of the streaming loader on synthetic 128 px PNGs, per decode concurrency.
 * Run: npx tsx packages/ml/src/data/decode.bench.ts [--n 600] [--size 128] [--batch 32]
 * Used to choose DEFAULT_DECODE_CONCURRENCY for 2-core machines.
 */
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { batches } from "./loader.js";
import { scanDataset } from "./scan.js";
import { generateSynthetic } from "./synth.js";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "600" },
    size: { type: "string", default: "128" },
    batch: { type: "string", default: "32" },
    repeats: { type: "string", default: "3" },
  },
});
const n = Number(values.n);
const size = Number(values.size);
const batchSize = Number(values.batch);
const repeats = Number(values.repeats);

const dir = path.join(os.tmpdir(), `xnn-decode-bench-${process.pid}`);
try {
  await generateSynthetic({ out: dir, n, size, seed: 1 });
  const ds = await scanDataset(dir);
  const items = [...ds.splits.train, ...ds.splits.val, ...ds.splits.test];
  console.log(
    `${items.length} PNGs ${size}x${size}, batch ${batchSize}, ${os.cpus().length} cores, load ${os.loadavg()[0]?.toFixed(2)}`,
  );
  for (const augment of [false, true]) {
    for (const concurrency of [1, 2, 3, 4, 6, 8]) {
      const rates: number[] = [];
      let cpuSec = 0;
      let total = 0;
      for (let r = 0; r < repeats; r++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        let count = 0;
        for await (const b of batches(items, {
          root: dir,
          batchSize,
          imageSize: size,
          augment,
          concurrency,
          seed: r,
          shuffle: true,
        })) {
          count += b.shape[0];
        }
        rates.push(count / ((performance.now() - t0) / 1000));
        const c = process.cpuUsage(c0);
        cpuSec += (c.user + c.system) / 1e6;
        total += count;
      }
      rates.sort((a, b) => a - b);
      const median = rates[Math.floor(rates.length / 2)] as number;
      console.log(
        `augment=${String(augment).padEnd(5)} concurrency=${concurrency}  median ${median.toFixed(0)} img/s, ${(total / cpuSec).toFixed(0)} img per CPU-second  (runs ${rates.map((x) => x.toFixed(0)).join(", ")})`,
      );
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
