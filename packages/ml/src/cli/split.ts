import path from "node:path";
import { intArg, parseCli, progressReporter, runCli, UsageError } from "../data/cliUtil.js";
import { splitDataset } from "../data/split.js";

const USAGE = `usage: pnpm data:split --raw <dir> --out <dir> [--seed 42] [--force]

Copies <raw>/<class>/* into <out>/{train,val,test}/<class>/ (stratified 80/10/10) after holding
out one image per class in <out>/predict/<class>/. The raw folder is never modified.
Refuses a non-empty <out> unless --force.`;

await runCli(USAGE, async () => {
  const v = parseCli(process.argv.slice(2), {
    raw: { type: "string" },
    out: { type: "string" },
    seed: { type: "string" },
    force: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!v.raw) throw new UsageError("--raw is required");
  if (!v.out) throw new UsageError("--out is required");
  const seed = intArg("seed", v.seed, 42);
  const progress = progressReporter("split");
  const summary = await splitDataset({
    raw: v.raw,
    out: v.out,
    seed,
    force: v.force,
    onProgress: progress.update,
  }).finally(progress.stop);
  process.stdout.write(
    `split ${v.raw} -> ${path.relative(process.cwd(), summary.out) || "."} (seed ${seed})\n`,
  );
  for (const [split, counts] of Object.entries(summary.counts)) {
    process.stdout.write(
      `  ${split.padEnd(7)} ${Object.entries(counts)
        .map(([c, k]) => `${c}=${k}`)
        .join(" ")}\n`,
    );
  }
});
