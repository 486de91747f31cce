import { readFileSync } from "node:fs";
import {
  ConfigError,
  type ConfigIssue,
  formatPath,
  type PipelineConfig,
  pipelineSchema,
  YamlSource,
} from "@xnn/shared";
import { parse as parseYamlScalar } from "yaml";
import type { z } from "zod";

export interface Override {
  /** Dotted key path, e.g. "train.learningRate". */
  key: string;
  /** Raw text after "="; parsed as YAML so numbers, booleans and lists keep their types. */
  raw: string;
}

export function parseOverride(arg: string): Override {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new Error(`--set expects key=value, got "${arg}"`);
  return { key: arg.slice(0, eq).trim(), raw: arg.slice(eq + 1) };
}

function message(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return `unknown key "${issue.keys[0]}"`;
  return issue.message;
}

/**
 * Reads and validates a pipeline YAML file with optional `--set` overrides. Every problem is
 * reported at once, located as file:line:col plus key path (or the --set argument it came from).
 */
export function loadPipelineFile(file: string, overrides: readonly Override[] = []): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([
      { file, line: 1, col: 1, path: "", message: `cannot read file: ${(err as Error).message}` },
    ]);
  }
  const source = new YamlSource(text, file);
  if (source.issues.length > 0) throw new ConfigError(source.issues);
  if (source.value === null || typeof source.value !== "object" || Array.isArray(source.value)) {
    throw new ConfigError([
      source.issue([], "a pipeline file must be a mapping (task, seed, data, model, stage, ...)"),
    ]);
  }
  const value = structuredClone(source.value) as Record<string, unknown>;
  const setIssues: ConfigIssue[] = [];
  for (const o of overrides) {
    const parts = o.key.split(".");
    let cur: Record<string, unknown> = value;
    for (const p of parts.slice(0, -1)) {
      const next = cur[p];
      if (next === undefined) cur[p] = {};
      else if (next === null || typeof next !== "object" || Array.isArray(next)) {
        setIssues.push({
          file: `--set ${o.key}=${o.raw}`,
          line: 0,
          col: 0,
          path: o.key,
          message: `"${p}" is not a mapping`,
        });
        break;
      }
      cur = cur[p] as Record<string, unknown>;
    }
    let parsed: unknown;
    try {
      parsed = parseYamlScalar(o.raw);
    } catch {
      parsed = o.raw;
    }
    cur[parts[parts.length - 1] as string] = parsed;
  }
  if (setIssues.length > 0) throw new ConfigError(setIssues);

  const result = pipelineSchema.safeParse(value);
  if (result.success) return result.data;
  const byKey = new Map(overrides.map((o) => [o.key, o]));
  throw new ConfigError(
    result.error.issues.map((zi) => {
      const p = (
        zi.code === "unrecognized_keys" ? [...zi.path, zi.keys[0] as string] : zi.path
      ) as PropertyKey[];
      const dotted = p.map(String).join(".");
      const o = [...byKey.values()].find((ov) => dotted === ov.key || dotted.startsWith(`${ov.key}.`));
      if (o)
        return {
          file: `--set ${o.key}=${o.raw}`,
          line: 0,
          col: 0,
          path: formatPath(p),
          message: message(zi),
        };
      return source.issue(p, message(zi), zi.code === "unrecognized_keys");
    }),
  );
}
