import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// `pnpm bench <name> [args]` runs bench/<name>.ts. Benchmarks print their figures and the ratio to
// their baseline; they are not part of `pnpm test`.
const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "index.ts" && !f.endsWith(".test.ts"))
  .map((f) => f.replace(/\.ts$/, ""));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: pnpm bench <${available.join("|")}> [options]\n`);
  process.exit(2);
}
process.argv.splice(2, 1);
await import(`./${name}.ts`);
