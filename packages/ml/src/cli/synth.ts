import path from "node:path";
import { intArg, parseCli, progressReporter, runCli, UsageError } from "../data/cliUtil.js";
import { generateSynthetic, SYNTH_CLASSES } from "../data/synth.js";

const USAGE = `usage: pnpm data:synth --out <dir> [--n 600] [--size 128] [--seed 1] [--force]

Writes a synthetic chest-X-ray-like data set (classes ${SYNTH_CLASSES.join(", ")}):
  <out>/{train,val,test}/<class>/*.png, <out>/predict/<class>/*.png, and lesion masks under
  <out>/masks/<split>/<class>/. Refuses a non-empty <out> unless --force.`;

await runCli(USAGE, async () => {
  const v = parseCli(process.argv.slice(2), {
    out: { type: "string" },
    n: { type: "string" },
    size: { type: "string" },
    seed: { type: "string" },
    force: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!v.out) throw new UsageError("--out is required");
  const n = intArg("n", v.n, 600, 1);
  const size = intArg("size", v.size, 128, 16);
  const seed = intArg("seed", v.seed, 1);
  const progress = progressReporter("synth");
  const summary = await generateSynthetic({
    out: v.out,
    n,
    size,
    seed,
    force: v.force,
    onProgress: progress.update,
  }).finally(progress.stop);
  const rel = path.relative(process.cwd(), summary.out) || ".";
  process.stdout.write(
    `wrote ${n} images + ${summary.predict.length} predict images to ${rel} in ${(summary.elapsedMs / 1000).toFixed(2)} s\n`,
  );
  for (const [split, counts] of Object.entries(summary.counts)) {
    process.stdout.write(
      `  ${split.padEnd(5)} ${Object.entries(counts)
        .map(([c, k]) => `${c}=${k}`)
        .join(" ")}\n`,
    );
  }
});
