import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { contentHash } from "../hash";
import { ConfigError, type ConfigIssue, formatPath } from "./ConfigError";
import type { EarlyTerminate } from "./earlyTerminate";
import { axisValuePath, discreteValues, type ExpansionIssue, expandSweep, type RunSpec } from "./expandSweep";
import {
  baseProblem,
  CONFINED_DIR_FIELDS,
  type ConfinedDirField,
  confinedDirProblem,
  isConfinedTo,
  type PathConfinement,
} from "./pathConfinement";
import { pipelineSchema } from "./pipeline";
import type { AxisSpec, SearchMethod } from "./searchSpace";
import { DEFAULT_MAX_RUNS, type SweepFile, sweepFileSchema } from "./sweepFile";
import { YamlSource } from "./yamlSource";
import { describeZodIssue, valueAt } from "./zodIssues";

export interface LoadedSweep {
  name: string;
  task: string;
  description: string | undefined;
  /** Identifies the sweep's content: its name and the hashes of all its resolved runs. */
  fingerprint: string;
  sourceText: string;
  sourcePath: string | undefined;
  runs: RunSpec[];
  /** How the sweep searches its space and stops runs early; stored on the Sweep row. */
  search: SweepSearch;
}

/** The search settings of a sweep, as stored on its row and read by the pruner and the proposer. */
export interface SweepSearch {
  method: SearchMethod;
  seed: number;
  /** random/bayes: points of the space to try. */
  runs: number | null;
  /** Every axis as written: lists and distributions. */
  space: Record<string, AxisSpec>;
  earlyTerminate: EarlyTerminate | null;
  /**
   * bayes: the base pipelines as read at submission (keyed as expandSweep's `bases`), so that the
   * scheduler expands each proposed point exactly as the first ones, without the files.
   */
  bases?: Record<string, unknown>;
  baseIsDirectory?: boolean;
}

/** A stored sweep's file, validated again (the proposer re-expands bayes sweeps from it). */
export function parseSweepSource(text: string): SweepFile {
  const source = new YamlSource(text, undefined);
  if (source.issues.length > 0) throw new ConfigError(source.issues);
  const parsed = sweepFileSchema.safeParse(source.value);
  if (!parsed.success)
    throw new ConfigError([source.issue([], parsed.error.issues[0]?.message ?? "invalid")]);
  return parsed.data;
}

export interface LoadSweepOptions {
  /** Shown in errors and used to resolve `base`; omit for text that did not come from a file. */
  file?: string;
  /** Directory `base` is resolved against when there is no file (the API uses the repo's conf/). */
  baseDir?: string;
  /**
   * For text submitted over the network: `base:` must stay inside `confDir` (which then replaces
   * `baseDir`) and every run's `data.dir` inside the data roots. Omitted by the CLI.
   */
  confine?: PathConfinement;
  maxRuns?: number;
}

export function loadSweepFile(file: string, options: Omit<LoadSweepOptions, "file"> = {}): LoadedSweep {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([
      { file, line: 1, col: 1, path: "", message: `cannot read file: ${(err as Error).message}` },
    ]);
  }
  return loadSweepText(text, { ...options, file });
}

/** Parses, validates and expands a sweep. Throws ConfigError listing every problem found; never writes. */
export function loadSweepText(text: string, options: LoadSweepOptions = {}): LoadedSweep {
  const { file } = options;
  const source = new YamlSource(text, file);
  if (source.issues.length > 0) throw new ConfigError(source.issues);
  if (source.value === null || typeof source.value !== "object" || Array.isArray(source.value)) {
    throw new ConfigError([source.issue([], "a sweep file must be a mapping with name, base and axes")]);
  }
  const parsed = sweepFileSchema.safeParse(source.value);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((zi) => {
        const p = (zi.code === "unrecognized_keys" ? [...zi.path, zi.keys[0]!] : zi.path) as PropertyKey[];
        return source.issue(
          p,
          describeZodIssue(zi, valueAt(source.value, zi.path)),
          zi.code === "unrecognized_keys",
        );
      }),
    );
  }
  const sweep = parsed.data;
  const { confine } = options;
  if (confine) {
    const problem = baseProblem(sweep.base, confine.confDir);
    if (problem) throw new ConfigError([source.issue(["base"], problem)]);
  }
  const baseRoot = confine ? confine.confDir : file ? path.dirname(file) : (options.baseDir ?? process.cwd());
  const basePath = path.resolve(baseRoot, sweep.base);
  if (!existsSync(basePath)) {
    // Under confinement, say it relative to the configuration directory, never the server's layout.
    const shown = confine ? sweep.base : path.relative(process.cwd(), basePath) || basePath;
    throw new ConfigError([source.issue(["base"], `base not found: ${shown}`)]);
  }
  const baseIsDirectory = statSync(basePath).isDirectory();
  const { bases, baseSources, issues: baseIssues } = readBases(basePath, baseIsDirectory, sweep, confine);
  if (baseIssues.length > 0) throw new ConfigError(baseIssues);

  const result = expandSweep({ sweep, bases, baseIsDirectory, maxRuns: options.maxRuns ?? DEFAULT_MAX_RUNS });
  if (result.issues.length > 0) {
    throw new ConfigError(result.issues.map((i) => locateIssue(i, source, baseSources)));
  }
  if (confine) {
    const dirIssues = confinedDirIssues(result.runs, sweep, confine, source, baseSources, baseIsDirectory);
    if (dirIssues.length > 0) throw new ConfigError(dirIssues);
  }
  const tasks = [...new Set(result.runs.map((r) => r.config.task))];
  if (tasks.length !== 1) {
    throw new ConfigError([
      source.issue(["base"], `all runs must share one task; found ${tasks.join(", ")}`),
    ]);
  }
  const search: SweepSearch = {
    method: sweep.method,
    seed: sweep.seed,
    runs: sweep.runs ?? null,
    space: sweep.axes,
    earlyTerminate: sweep.earlyTerminate ?? null,
    ...(sweep.method === "bayes" ? { bases: Object.fromEntries(bases), baseIsDirectory } : {}),
  };
  const runHashes = result.runs.map((r) => r.configHash).sort();
  // A plain grid keeps the fingerprint it always had; search settings change what a sweep does
  // with the same runs (bayes proposes more, early termination stops some), so they count too.
  const plainGrid = search.method === "grid" && search.earlyTerminate === null;
  const fingerprint = contentHash(
    plainGrid ? { name: sweep.name, runs: runHashes } : { name: sweep.name, runs: runHashes, search },
  );
  return {
    name: sweep.name,
    task: tasks[0]!,
    description: sweep.description,
    fingerprint,
    sourceText: text,
    sourcePath: file,
    runs: result.runs,
    search,
  };
}

/**
 * One issue per distinct refused directory (`data.dir`, `model.pretrainedDir`), placed where the
 * value came from: the axis value, the override, or the base pipeline file. Every value a list or
 * choice axis lists is checked too: a random or bayes sweep may draw it only later, when the
 * proposer expands new points without this check.
 */
function confinedDirIssues(
  runs: RunSpec[],
  sweep: SweepFile,
  confine: PathConfinement,
  source: YamlSource,
  baseSources: Map<string, YamlSource>,
  baseIsDirectory: boolean,
): ConfigIssue[] {
  const issues = new Map<string, ConfigIssue>();
  const add = (issue: ConfigIssue) => issues.set(`${issue.file}:${issue.line}:${issue.col}`, issue);
  for (const field of CONFINED_DIR_FIELDS) {
    const [section, key] = field.split(".") as [string, string];
    const axis = sweep.axes[field];
    for (const value of discreteValues(axis)) {
      if (typeof value !== "string" || !axis) continue;
      const problem = confinedDirProblem(field, value, confine);
      if (problem) add(source.issue(axisValuePath(field, axis, value), problem));
    }
    for (const run of runs) {
      const value = dirOf(run, field);
      if (value === null) continue;
      const problem = confinedDirProblem(field, value, confine);
      if (!problem) continue;
      if (axis) {
        add(source.issue(axisValuePath(field, axis, run.axisValues[field]), problem));
      } else if (field in sweep.overrides) {
        add(source.issue(["overrides", field], problem));
      } else if (section in sweep.overrides) {
        add(source.issue(["overrides", section], problem));
      } else {
        const baseSource = baseSources.get(baseIsDirectory ? `${run.model}_${run.stage}` : "");
        add(baseSource ? baseSource.issue([section, key], problem) : source.issue(["base"], problem));
      }
    }
  }
  return [...issues.values()];
}

function dirOf(run: RunSpec, field: ConfinedDirField): string | null {
  return field === "data.dir" ? run.config.data.dir : run.config.model.pretrainedDir;
}

const PIPELINE_KEYS = new Set(Object.keys(pipelineSchema.shape));

/**
 * A base file that is not YAML, or not a mapping that looks like a pipeline, is reported by place
 * only: its content is not the user's to see (a server file named by a submitted sweep) and not
 * useful to them, so no message quotes it.
 */
function unparsableBase(src: YamlSource): ConfigIssue[] {
  const first = src.issues[0];
  if (first) {
    return [
      {
        file: src.file,
        line: first.line,
        col: first.col,
        path: "",
        message: "not a pipeline file: invalid YAML (content not shown)",
      },
    ];
  }
  const v = src.value;
  const mapping = v !== null && typeof v === "object" && !Array.isArray(v);
  if (!mapping || !Object.keys(v).some((k) => PIPELINE_KEYS.has(k))) {
    return [
      {
        file: src.file,
        line: 1,
        col: 1,
        path: "",
        message: "not a pipeline file: expected a YAML mapping with pipeline keys (content not shown)",
      },
    ];
  }
  return [];
}

function readBases(basePath: string, isDirectory: boolean, sweep: SweepFile, confine?: PathConfinement) {
  const bases = new Map<string, unknown>();
  const baseSources = new Map<string, YamlSource>();
  const issues: ConfigIssue[] = [];
  const files: [string, string][] = [];
  if (isDirectory) {
    const wanted = new Set<string>();
    for (const m of discreteValues(sweep.axes.model))
      for (const s of discreteValues(sweep.axes.stage)) wanted.add(`${m}_${s}`);
    const present = new Set(readdirSync(basePath).filter((f) => /\.ya?ml$/.test(f)));
    for (const key of wanted) {
      const name = present.has(`${key}.yaml`)
        ? `${key}.yaml`
        : present.has(`${key}.yml`)
          ? `${key}.yml`
          : null;
      if (name) files.push([key, path.join(basePath, name)]);
    }
  } else {
    files.push(["", basePath]);
  }
  for (const [key, file] of files) {
    const display = path.relative(process.cwd(), file) || file;
    // A pipeline file inside the folder may itself be a symlink that leads out of it.
    if (confine && !isConfinedTo(file, confine.confDir)) {
      issues.push({
        file: display,
        line: 1,
        col: 1,
        path: "",
        message: "links outside the configuration directory (XNN_CONF_DIR); not read",
      });
      continue;
    }
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      issues.push({
        file: display,
        line: 1,
        col: 1,
        path: "",
        message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      });
      continue;
    }
    const src = new YamlSource(text, display);
    const problems = unparsableBase(src);
    issues.push(...problems);
    baseSources.set(key, src);
    if (problems.length === 0) bases.set(key, src.value);
  }
  return { bases, baseSources, issues };
}

function locateIssue(issue: ExpansionIssue, sweep: YamlSource, bases: Map<string, YamlSource>): ConfigIssue {
  if (issue.source === "sweep") return sweep.issue(issue.path, issue.message, issue.atKey);
  const src = bases.get(issue.source.base);
  if (!src) return { ...sweep.issue(["base"], issue.message), path: formatPath(issue.path) };
  return src.issue(issue.path, issue.message, issue.atKey);
}
