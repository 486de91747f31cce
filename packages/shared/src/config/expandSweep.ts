import type { z } from "zod";
import { contentHash } from "../hash";
import { MODEL_NAMES, type ModelName, STAGES, type StageKind } from "../models";
import { createRng } from "../prng";
import { classWeightingSchema, type PipelineConfig, pipelineSchema } from "./pipeline";
import { type AxisSpec, type Distribution, isDistribution, samplePoints, spaceSize } from "./searchSpace";
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
  /** random/bayes: which point of the space (0-based), shared by an FE run and the FT runs it starts. */
  trial: number | null;
  /** random/bayes: the values drawn for the distribution axes (a subset of axisValues). */
  params: Record<string, unknown> | null;
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
  /**
   * bayes: the points to expand (values of the distribution axes), numbered from `firstTrial`,
   * instead of drawing `runs` of them from the seed. Random and grid sweeps leave it out.
   */
  points?: { firstTrial: number; values: Record<string, unknown>[] };
}

export interface ExpansionResult {
  runs: RunSpec[];
  issues: ExpansionIssue[];
}

const SPECIAL_AXES = ["model", "classWeighting", "stage"] as const;

/** Number of runs a sweep expands to, computed without expanding it (bayes: all it may propose). */
export function countRuns(sweep: SweepFile): number {
  const fixed = listAxes(sweep).reduce((n, [, values]) => n * values.length, 1);
  return sweep.method === "grid" ? fixed : fixed * (sweep.runs ?? 0);
}

/** The axes that are crossed: every axis of a grid, the list axes of a random or bayes sweep. */
export function listAxes(sweep: SweepFile): [string, unknown[]][] {
  return Object.entries(sweep.axes).filter((e): e is [string, unknown[]] => !isDistribution(e[1]));
}

/** The axes that are sampled (random and bayes sweeps), in file order. */
export function distributionAxes(sweep: SweepFile): [string, Distribution][] {
  return Object.entries(sweep.axes).filter((e): e is [string, Distribution] => isDistribution(e[1]));
}

/** bayes: how many points are drawn at random before the model proposes the rest. */
export function initialBayesPoints(sweep: SweepFile): number {
  return Math.min(sweep.runs ?? 0, Math.max(3, Math.ceil((sweep.runs ?? 0) / 4)));
}

/** One combination to resolve into runs: axis values, where each came from, and its point number. */
interface Combo {
  values: Record<string, unknown>;
  origins: Record<string, (string | number)[]>;
  trial: number | null;
  params: Record<string, unknown> | null;
}

/** Grid combinations of the list axes, in file order (the last axis varies fastest). */
function gridCombos(axes: [string, unknown[]][]): Combo[] {
  const index = cartesian(axes.map(([, values]) => values.map((_, i) => i)));
  return index.map((combo) => {
    const values: Record<string, unknown> = {};
    const origins: Record<string, (string | number)[]> = {};
    axes.forEach(([k, list], i) => {
      values[k] = list[combo[i]!];
      origins[k] = ["axes", k, combo[i]!];
    });
    return { values, origins, trial: null, params: null };
  });
}

/**
 * Random/bayes combinations: each point crossed with the list axes. Axis values keep the file's
 * axis order, so run keys and FE/FT signatures do not depend on which kind an axis is.
 */
function searchCombos(sweep: SweepFile, points: Record<string, unknown>[], firstTrial: number): Combo[] {
  const fixed = gridCombos(listAxes(sweep));
  const combos: Combo[] = [];
  points.forEach((point, i) => {
    for (const f of fixed) {
      const values: Record<string, unknown> = {};
      const origins: Record<string, (string | number)[]> = {};
      for (const k of Object.keys(sweep.axes)) {
        if (k in point) {
          values[k] = structuredClone(point[k]);
          origins[k] = ["axes", k];
        } else {
          values[k] = f.values[k];
          origins[k] = f.origins[k]!;
        }
      }
      combos.push({ values, origins, trial: firstTrial + i, params: structuredClone(point) });
    }
  });
  return combos;
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
  } else if (sweep.axes.stage !== undefined) {
    issues.push({
      source: "sweep",
      path: ["axes", "stage"],
      message: "a stage axis needs `base` to be a directory of <model>_<stage>.yaml files",
      atKey: true,
    });
  }
  if (issues.length > 0) return { runs: [], issues };

  let combos: Combo[];
  if (sweep.method === "grid") {
    combos = gridCombos(listAxes(sweep));
  } else if (input.points) {
    combos = searchCombos(sweep, input.points.values, input.points.firstTrial);
  } else {
    const dists = distributionAxes(sweep);
    const wanted = sweep.method === "bayes" ? initialBayesPoints(sweep) : sweep.runs!;
    const size = spaceSize(dists);
    if (size < wanted) {
      issues.push({
        source: "sweep",
        path: ["runs"],
        message: `the space has only ${size} distinct point(s) for runs: ${sweep.runs}; widen it or use method grid`,
      });
      return { runs: [], issues };
    }
    combos = searchCombos(sweep, samplePoints(dists, wanted, createRng(sweep.seed)), 0);
  }
  const trialDigits = String(Math.max(0, (sweep.runs ?? 1) - 1)).length;
  const runs: RunSpec[] = [];
  const seenKeys = new Set<string>();
  for (const combo of combos) {
    const axisValues = combo.values;
    const model = (axisValues.model ?? undefined) as ModelName | undefined;
    const stage = (axisValues.stage ?? undefined) as StageKind | undefined;
    const baseKey = baseIsDirectory ? `${model}_${stage}` : "";
    const base = bases.get(baseKey);
    if (base === undefined) {
      if (baseIsDirectory) {
        issues.push({
          source: "sweep",
          path: axisValuePath("model", sweep.axes.model!, model),
          message: `no base pipeline ${baseKey}.yaml for model "${model}" and stage "${stage}" in ${sweep.base}`,
        });
      }
      continue;
    }

    const merged = structuredClone(base) as Record<string, unknown>;
    const origins = new Map<string, { place: (string | number)[] } | "override">();
    for (const [key, value] of Object.entries(sweep.overrides)) {
      setPath(merged, key.split("."), structuredClone(value));
      origins.set(key, "override");
    }
    for (const k of axisKeys) {
      if (k === "stage") continue; // chosen through the base file
      const path = k === "model" ? "model.arch" : k;
      setPath(merged, path.split("."), structuredClone(axisValues[k]));
      origins.set(path, { place: combo.origins[k]! });
    }

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
          const sampled = combo.trial !== null && origin.place.length === 2;
          issues.push({
            source: "sweep",
            path: origin.place,
            message: sampled ? `drew ${JSON.stringify(valueAt(merged, zi.path))}: ${message}` : message,
          });
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
      .filter((k) => !(SPECIAL_AXES as readonly string[]).includes(k) && !(combo.params && k in combo.params))
      .map((k) => `${k.split(".").pop()}=${formatAxisValue(axisValues[k])}`);
    if (combo.trial !== null) extra.push(`t${String(combo.trial).padStart(trialDigits, "0")}`);
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
      trial: combo.trial,
      params: combo.params,
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
  for (const [axis, spec] of Object.entries(sweep.axes)) {
    const seen = new Map<string, number>();
    let values: unknown[];
    let at: (string | number)[];
    if (Array.isArray(spec)) {
      values = spec;
      at = ["axes", axis];
    } else if ("choice" in spec) {
      values = spec.choice;
      at = ["axes", axis, "choice"];
    } else {
      values = [];
      at = ["axes", axis];
      if ((SPECIAL_AXES as readonly string[]).includes(axis)) {
        issues.push({
          source: "sweep",
          path: at,
          message: `${axis} takes a list or {choice: [...]}, not a numeric distribution`,
        });
      }
    }
    values.forEach((value, index) => {
      const id = JSON.stringify(value);
      if (seen.has(id)) {
        issues.push({
          source: "sweep",
          path: [...at, index],
          message: `duplicate value ${id} (already at index ${seen.get(id)})`,
        });
      }
      seen.set(id, index);
      if (axis === "model" && !(MODEL_NAMES as readonly unknown[]).includes(value)) {
        issues.push({
          source: "sweep",
          path: [...at, index],
          message: `unknown model ${JSON.stringify(value)}; expected one of ${MODEL_NAMES.join(", ")}`,
        });
      } else if (axis === "stage" && !(STAGES as readonly unknown[]).includes(value)) {
        issues.push({
          source: "sweep",
          path: [...at, index],
          message: `unknown stage ${JSON.stringify(value)}; expected one of ${STAGES.join(", ")}`,
        });
      } else if (axis === "classWeighting" && !classWeightingSchema.safeParse(value).success) {
        issues.push({
          source: "sweep",
          path: [...at, index],
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
      const stages = sweep.axes.stage;
      const idx = Array.isArray(stages) ? stages.indexOf("ft") : -1;
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
  origins: Map<string, { place: (string | number)[] } | "override">,
  path: string[],
): { kind: "override"; key: string } | { kind: "axis"; place: (string | number)[] } | null {
  for (let len = path.length; len > 0; len--) {
    const key = path.slice(0, len).join(".");
    const origin = origins.get(key);
    if (origin === "override") return { kind: "override", key };
    if (origin) return { kind: "axis", place: origin.place };
  }
  return null;
}

/** Where a value sits in an axis of the sweep file: its list index, or its index in a choice. */
export function axisValuePath(axis: string, spec: AxisSpec, value: unknown): (string | number)[] {
  const id = JSON.stringify(value);
  const find = (list: unknown[]) => list.findIndex((v) => JSON.stringify(v) === id);
  if (Array.isArray(spec)) return ["axes", axis, find(spec)];
  if ("choice" in spec) return ["axes", axis, "choice", find(spec.choice)];
  return ["axes", axis];
}

/** The values an axis can take when it is a list or a choice (the base files it needs, say). */
export function discreteValues(spec: AxisSpec | undefined): unknown[] {
  if (spec === undefined) return [];
  if (Array.isArray(spec)) return spec;
  return "choice" in spec ? spec.choice : [];
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
