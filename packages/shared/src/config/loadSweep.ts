import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { contentHash } from "../hash";
import { ConfigError, type ConfigIssue, formatPath } from "./ConfigError";
import { type ExpansionIssue, expandSweep, type RunSpec } from "./expandSweep";
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
}

export interface LoadSweepOptions {
  /** Shown in errors and used to resolve `base`; omit for text that did not come from a file. */
  file?: string;
  /** Directory `base` is resolved against when there is no file (the API uses the repo's conf/). */
  baseDir?: string;
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
  const baseRoot = file ? path.dirname(file) : (options.baseDir ?? process.cwd());
  const basePath = path.resolve(baseRoot, sweep.base);
  if (!existsSync(basePath)) {
    throw new ConfigError([
      source.issue(["base"], `base not found: ${path.relative(process.cwd(), basePath) || basePath}`),
    ]);
  }
  const baseIsDirectory = statSync(basePath).isDirectory();
  const { bases, baseSources, issues: baseIssues } = readBases(basePath, baseIsDirectory, sweep);
  if (baseIssues.length > 0) throw new ConfigError(baseIssues);

  const result = expandSweep({ sweep, bases, baseIsDirectory, maxRuns: options.maxRuns ?? DEFAULT_MAX_RUNS });
  if (result.issues.length > 0) {
    throw new ConfigError(result.issues.map((i) => locateIssue(i, source, baseSources)));
  }
  const tasks = [...new Set(result.runs.map((r) => r.config.task))];
  if (tasks.length !== 1) {
    throw new ConfigError([
      source.issue(["base"], `all runs must share one task; found ${tasks.join(", ")}`),
    ]);
  }
  const fingerprint = contentHash({ name: sweep.name, runs: result.runs.map((r) => r.configHash).sort() });
  return {
    name: sweep.name,
    task: tasks[0]!,
    description: sweep.description,
    fingerprint,
    sourceText: text,
    sourcePath: file,
    runs: result.runs,
  };
}

function readBases(basePath: string, isDirectory: boolean, sweep: SweepFile) {
  const bases = new Map<string, unknown>();
  const baseSources = new Map<string, YamlSource>();
  const issues: ConfigIssue[] = [];
  const files: [string, string][] = [];
  if (isDirectory) {
    const wanted = new Set<string>();
    for (const m of sweep.axes.model ?? []) for (const s of sweep.axes.stage ?? []) wanted.add(`${m}_${s}`);
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
    const src = new YamlSource(readFileSync(file, "utf8"), display);
    issues.push(...src.issues);
    baseSources.set(key, src);
    if (src.issues.length === 0) bases.set(key, src.value);
  }
  return { bases, baseSources, issues };
}

function locateIssue(issue: ExpansionIssue, sweep: YamlSource, bases: Map<string, YamlSource>): ConfigIssue {
  if (issue.source === "sweep") return sweep.issue(issue.path, issue.message, issue.atKey);
  const src = bases.get(issue.source.base);
  if (!src) return { ...sweep.issue(["base"], issue.message), path: formatPath(issue.path) };
  return src.issue(issue.path, issue.message, issue.atKey);
}
