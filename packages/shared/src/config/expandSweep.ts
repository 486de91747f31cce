import type { z } from "zod";
import { contentHash } from "../hash";
import { MODEL_NAMES, type ModelName, STAGES, type StageKind } from "../models";
import { classWeightingSchema, type PipelineConfig, pipelineSchema } from "./pipeline";
import type { SweepFile } from "./sweepFile";
import { describeZodIssue, valueAt } from "./zodIssues";

/** One run of an expanded sweep, fully resolved: the worker needs nothing else to train it. */
export interface RunSpec {
  /** Human-readable and unique within the sweep, e.g. `mobilenet_v2-balanced-ft`. */
  key: string;
  model: ModelName;
  classWeighting: string;
  stage: StageKind;
  axisValues: Record<string, unknown>;
  config: PipelineConfig;
  /** sha256 of the resolved config (and, for FT, of the FE run it starts from). */
  configHash: string;
  /** Key of the FE run an FT run starts from. */
  dependsOn: string | null;
}

/** Where a problem found during expansion lives: the sweep file, or one of the base pipeline files. */
export interface ExpansionIssue {
  source: "sweep" | { base: string };
  path: (string | number)[];
  message: string;
  atKey?: boolean;
}

export interface ExpansionInput {
  sweep: SweepFile;
  /**
   * Base pipelines (already parsed YAML, not yet validated against overrides), keyed by
   * `<model>_<stage>` when the base is a directory, or by "" when it is a single file.
   */
  bases: ReadonlyMap<string, unknown>;
  baseIsDirectory: boolean;
  maxRuns: number;
}

export interface ExpansionResult {
  runs: RunSpec[];
  issues: ExpansionIssue[];
}

const SPECIAL_AXES = ["model", "classWeighting", "stage"] as const;

/** Number of runs a sweep expands to, computed without expanding it. */
export function countRuns(sweep: SweepFile): number {
  return Object.values(sweep.axes).reduce((n, values) => n * values.length, 1);
}

/**
 * Crosses the sweep's axes over its base pipelines. Pure: no files, no clocks, no randomness,
 * so the same input always yields the same runs in the same order with the same hashes.
 */
export function expandSweep(input: ExpansionInput): ExpansionResult {
  const { sweep, bases, baseIsDirectory, maxRuns } = input;
  const issues: ExpansionIssue[] = [];
  const axisKeys = Object.keys(sweep.axes);

  const total = countRuns(sweep);
  if (total > maxRuns) {
    issues.push({
      source: "sweep",
      path: ["axes"],
      message: `expands to ${total.toLocaleString("en-US")} runs, over the limit of ${maxRuns.toLocaleString("en-US")}; pass --max-runs to allow more`,
    });
    return { runs: [], issues };
  }

  checkAxisValues(sweep, issues);
  if (baseIsDirectory) {
    for (const key of ["model", "stage"] as const) {
      if (!sweep.axes[key]) {
        issues.push({
          source: "sweep",
          path: ["axes"],
          message: `a base directory needs a "${key}" axis to pick its <model>_<stage>.yaml files`,
        });
      }
    }
  } else if (sweep.axes.stage) {
    issues.push({
      source: "sweep",
      path: ["axes", "stage"],
      message: "a stage axis needs `base` to be a directory of <model>_<stage>.yaml files",
      atKey: true,
    });
  }
  if (issues.length > 0) return { runs: [], issues };

  const combos = cartesian(axisKeys.map((k) => sweep.axes[k]!.map((_, i) => i)));
  const runs: RunSpec[] = [];
  const seenKeys = new Set<string>();
  for (const combo of combos) {
    const axisValues: Record<string, unknown> = {};
    axisKeys.forEach((k, i) => {
      axisValues[k] = sweep.axes[k]![combo[i]!];
    });
    const model = (axisValues.model ?? undefined) as ModelName | undefined;
    const stage = (axisValues.stage ?? undefined) as StageKind | undefined;
    const baseKey = baseIsDirectory ? `${model}_${stage}` : "";
    const base = bases.get(baseKey);
    if (base === undefined) {
      if (baseIsDirectory) {
        const idx = sweep.axes.model!.indexOf(model);
        issues.push({
          source: "sweep",
          path: ["axes", "model", idx],
          message: `no base pipeline ${baseKey}.yaml for model "${model}" and stage "${stage}" in ${sweep.base}`,
        });
      }
      continue;
    }

    const merged = structuredClone(base) as Record<string, unknown>;
    const origins = new Map<
      string,
      ExpansionIssue["source"] | { axis: string; index: number } | "override"
    >();
    for (const [key, value] of Object.entries(sweep.overrides)) {
      setPath(merged, key.split("."), structuredClone(value));
      origins.set(key, "override");
    }
    axisKeys.forEach((k, i) => {
      if (k === "stage") return; // chosen through the base file
      const path = k === "model" ? "model.arch" : k;
      setPath(merged, path.split("."), structuredClone(axisValues[k]));
      origins.set(path, { axis: k, index: combo[i]! });
    });

    const parsed = pipelineSchema.safeParse(merged);
    if (!parsed.success) {
      for (const zi of parsed.error.issues) {
        const fullPath = zi.code === "unrecognized_keys" ? [...zi.path, zi.keys[0]!] : zi.path;
        const message = describeZodIssue(zi, valueAt(merged, zi.path));
        const origin = findOrigin(origins, fullPath.map(String));
        if (origin?.kind === "override") {
          const inner = fullPath.join(".") === origin.key ? message : `${fullPath.join(".")}: ${message}`;
          issues.push({ source: "sweep", path: ["overrides", origin.key], message: inner });
        } else if (origin?.kind === "axis") {
          issues.push({ source: "sweep", path: ["axes", origin.axis, origin.index], message });
        } else {
          issues.push({
            source: { base: baseKey },
            path: fullPath.map((p) => (typeof p === "number" ? p : String(p))),
            message,
            atKey: zi.code === "unrecognized_keys",
          });
        }
      }
      continue;
    }
    const config = parsed.data;
    if (baseIsDirectory && config.stage.kind !== stage) {
      issues.push({
        source: { base: baseKey },
        path: ["stage", "kind"],
        message: `file is named for stage "${stage}" but sets stage.kind "${config.stage.kind}"`,
      });
      continue;
    }
    const weighting = weightingLabel(config.classWeighting);
    const extra = axisKeys
      .filter((k) => !(SPECIAL_AXES as readonly string[]).includes(k))
      .map((k) => `${k.split(".").pop()}=${formatAxisValue(axisValues[k])}`);
    const key = [config.model.arch, weighting, config.stage.kind, ...extra].join("-");
    if (seenKeys.has(key)) continue;
    seenKeys.add(key);
    runs.push({
      key,
      model: config.model.arch,
      classWeighting: weighting,
      stage: config.stage.kind,
      axisValues,
      config,
      configHash: "",
      dependsOn: null,
    });
  }
  if (issues.length > 0) return { runs: [], issues: dedupe(issues) };

  linkFineTuneRuns(runs, sweep, issues);
  if (issues.length > 0) return { runs: [], issues };

  // FE hashes first, so an FT hash can include the FE run it starts from.
  const byKey = new Map(runs.map((r) => [r.key, r]));
  for (const run of runs.filter((r) => r.stage === "fe")) run.configHash = contentHash(run.config);
  for (const run of runs.filter((r) => r.stage === "ft")) {
    const fe = byKey.get(run.dependsOn!)!;
    run.configHash = contentHash({ config: run.config, startsFrom: fe.configHash });
  }
  return { runs, issues };
}

function checkAxisValues(sweep: SweepFile, issues: ExpansionIssue[]): void {
  for (const [axis, values] of Object.entries(sweep.axes)) {
    const seen = new Map<string, number>();
    values.forEach((value, index) => {
      const id = JSON.stringify(value);
      if (seen.has(id)) {
        issues.push({
          source: "sweep",
          path: ["axes", axis, index],
          message: `duplicate value ${id} (already at index ${seen.get(id)})`,
        });
      }
      seen.set(id, index);
      if (axis === "model" && !(MODEL_NAMES as readonly unknown[]).includes(value)) {
        issues.push({
          source: "sweep",
          path: ["axes", axis, index],
          message: `unknown model ${JSON.stringify(value)}; expected one of ${MODEL_NAMES.join(", ")}`,
        });
      } else if (axis === "stage" && !(STAGES as readonly unknown[]).includes(value)) {
        issues.push({
          source: "sweep",
          path: ["axes", axis, index],
          message: `unknown stage ${JSON.stringify(value)}; expected one of ${STAGES.join(", ")}`,
        });
      } else if (axis === "classWeighting" && !classWeightingSchema.safeParse(value).success) {
        issues.push({
          source: "sweep",
          path: ["axes", axis, index],
          message: `unknown class weighting ${JSON.stringify(value)}; expected "none", "balanced" or a list of positive weights`,
        });
      }
    });
    if (!(SPECIAL_AXES as readonly string[]).includes(axis) && !isKnownPipelineKey(axis)) {
      issues.push({
        source: "sweep",
        path: ["axes", axis],
        message: `unknown axis "${axis}"; use model, classWeighting, stage or a dotted key of the pipeline (e.g. train.learningRate)`,
        atKey: true,
      });
    }
  }
}

function linkFineTuneRuns(runs: RunSpec[], sweep: SweepFile, issues: ExpansionIssue[]): void {
  const feBySignature = new Map<string, RunSpec>();
  const signature = (r: RunSpec) =>
    JSON.stringify(Object.entries(r.axisValues).filter(([k]) => k !== "stage"));
  for (const run of runs) if (run.stage === "fe") feBySignature.set(signature(run), run);
  for (const run of runs) {
    if (run.stage !== "ft") continue;
    const fe = feBySignature.get(signature(run));
    if (!fe) {
      const idx = sweep.axes.stage?.indexOf("ft") ?? -1;
      issues.push({
        source: "sweep",
        path: idx >= 0 ? ["axes", "stage", idx] : ["axes"],
        message: `ft run ${run.key} has no fe run with the same model and weighting to start from; add "fe" to axes.stage`,
      });
      return;
    }
    run.dependsOn = fe.key;
  }
}

const pipelineShape = pipelineSchema.shape as Record<string, z.ZodType>;

function isKnownPipelineKey(dotted: string): boolean {
  let shape: Record<string, z.ZodType> | undefined = pipelineShape;
  for (const part of dotted.split(".")) {
    if (!shape || !(part in shape)) return false;
    shape = objectShape(shape[part]!);
  }
  return true;
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let s: unknown = schema;
  // unwrap default/optional/nullable wrappers
  for (let i = 0; i < 5; i++) {
    const def = (s as { def?: { type?: string; innerType?: unknown; shape?: unknown } }).def;
    if (!def) return undefined;
    if (def.type === "object") return def.shape as Record<string, z.ZodType>;
    if (def.innerType) s = def.innerType;
    else return undefined;
  }
  return undefined;
}

function findOrigin(
  origins: Map<string, unknown>,
  path: string[],
): { kind: "override"; key: string } | { kind: "axis"; axis: string; index: number } | null {
  for (let len = path.length; len > 0; len--) {
    const key = path.slice(0, len).join(".");
    const origin = origins.get(key);
    if (origin === "override") return { kind: "override", key };
    if (origin && typeof origin === "object" && "axis" in origin) {
      const o = origin as { axis: string; index: number };
      return { kind: "axis", axis: o.axis, index: o.index };
    }
  }
  return null;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = target;
  path.forEach((part, i) => {
    if (i === path.length - 1) {
      cur[part] = value;
      return;
    }
    const next = cur[part];
    if (next === null || typeof next !== "object" || Array.isArray(next)) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  });
}

export function weightingLabel(w: PipelineConfig["classWeighting"]): string {
  return Array.isArray(w) ? `w${w.join("_")}` : w;
}

function formatAxisValue(v: unknown): string {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean"
    ? String(v)
    : JSON.stringify(v);
}

function cartesian(lists: number[][]): number[][] {
  return lists.reduce<number[][]>(
    (acc, list) => acc.flatMap((prefix) => list.map((v) => [...prefix, v])),
    [[]],
  );
}

function dedupe(issues: ExpansionIssue[]): ExpansionIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const id = JSON.stringify(i);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
