/**
 * Fault injection for the crash tests: `XNN_FAULT_POINTS=final-save:1500,checkpoint-swap:1500`
 * makes a process pause that many milliseconds each time it passes the named point, after writing
 * `xnn-fault-point <name>` to stderr, so a test can SIGKILL it exactly there (inside the final
 * save's transaction, between the two renames of a checkpoint swap). Unset (always, outside tests)
 * it costs one map lookup.
 */
let points: Map<string, number> | null = null;

function parse(spec: string | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const part of (spec ?? "").split(",")) {
    const [name, ms] = part.split(":");
    if (name && Number(ms) > 0) m.set(name.trim(), Number(ms));
  }
  return m;
}

export async function faultPoint(name: string): Promise<void> {
  points ??= parse(process.env.XNN_FAULT_POINTS);
  const ms = points.get(name);
  if (!ms) return;
  process.stderr.write(`xnn-fault-point ${name}\n`);
  await new Promise((r) => setTimeout(r, ms));
}
