import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * The BullMQ prefix for this demo home: random once, then kept in `instanceFile`. Jobs from another
 * checkout, from `pnpm sweep`, or left by a demo whose database was since deleted live under other
 * prefixes, so this demo's workers never pick up jobs its database knows nothing about.
 */
export function demoQueuePrefix(instanceFile: string): string {
  let id = "";
  try {
    id = readFileSync(instanceFile, "utf8").trim();
  } catch {
    // First run in this home.
  }
  if (!/^[a-z0-9]{8,32}$/.test(id)) {
    id = randomBytes(5).toString("hex");
    mkdirSync(path.dirname(instanceFile), { recursive: true });
    writeFileSync(instanceFile, `${id}\n`);
  }
  return `xnn-demo-${id}`;
}
