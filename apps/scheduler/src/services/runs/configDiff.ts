import { canonicalJson } from "@xnn/shared";
import type { ConfigDiffEntry } from "@xnn/shared/records";

export type { ConfigDiffEntry };

/** Leaves of a config keyed by dotted path. Arrays are leaves: `classNames` differs as a whole. */
export function flattenConfig(value: unknown, prefix = "", out = new Map<string, unknown>()) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.set(prefix, value);
  }
  return out;
}

/** The config keys whose values are not the same in every run, sorted by path. */
export function configDiff(configs: { id: string; config: unknown }[]): ConfigDiffEntry[] {
  const flat = configs.map((c) => ({ id: c.id, leaves: flattenConfig(c.config) }));
  const keys = new Set(flat.flatMap((f) => [...f.leaves.keys()]));
  const diff: ConfigDiffEntry[] = [];
  for (const key of [...keys].sort()) {
    const values: Record<string, unknown> = {};
    const distinct = new Set<string>();
    for (const f of flat) {
      const v = f.leaves.has(key) ? f.leaves.get(key) : null;
      values[f.id] = v ?? null;
      distinct.add(canonicalJson(v ?? null));
    }
    if (distinct.size > 1) diff.push({ key, values });
  }
  return diff;
}
