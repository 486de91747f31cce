import type { Dirent } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { isConfinedTo } from "@xnn/shared";
import type { PredictSample, PredictSampleList } from "@xnn/shared/records";
import { MAX_UPLOAD_BYTES, PredictError, type PredictService } from "./predict";

/** Content types of the image files a data set's predict/ folder may hold, by extension. */
export const SAMPLE_TYPES: Readonly<Record<string, string>> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".bmp": "image/bmp",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".avif": "image/avif",
};

/** The listing stops here; a predict/ folder holds a handful of held-out images, not a data set. */
export const MAX_SAMPLES = 500;

export type { PredictSample, PredictSampleList };

export interface PredictSampleFile {
  name: string;
  contentType: string;
  bytes: Buffer;
}

/**
 * Why a name is refused, or null when it is acceptable: at most `<class>/<file>`, plain segments
 * only (no "..", no hidden files, no backslashes or control characters), an image extension.
 * The path is only ever built from a name that passed this.
 */
export function sampleNameProblem(name: string): string | null {
  if (name.length === 0 || name.length > 255) return "a sample name is 1 to 255 characters";
  const segments = name.split("/");
  if (segments.length > 2) return "a sample name is <file> or <class>/<file>";
  for (const s of segments) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
    if (s === "" || s.startsWith(".") || /[\\\u0000-\u001f\u007f]/.test(s))
      return `"${s}" is not a plain file or folder name`;
  }
  if (!SAMPLE_TYPES[path.extname(name).toLowerCase()])
    return `not an image name (expected ${Object.keys(SAMPLE_TYPES).join(", ")})`;
  return null;
}

function dataDirOf(config: unknown): string | undefined {
  const dir = (config as { data?: { dir?: unknown } } | null)?.data?.dir;
  return typeof dir === "string" && dir !== "" ? dir : undefined;
}

function isImageEntry(e: Dirent): boolean {
  return (e.isFile() || e.isSymbolicLink()) && sampleNameProblem(e.name) === null;
}

/**
 * The images of a model version's data set `predict/` folder (the held-out images the split and
 * the synthetic generator write), so a client can offer them for explanation. The data set is
 * the one in the run's pipeline config (`data.dir`, relative paths against `dataRoot`).
 */
export class PredictSamples {
  private readonly dataRoots: readonly string[];

  constructor(
    private readonly predict: PredictService,
    private readonly dataRoot: string,
    /** Samples are served only from inside these (XNN_DATA_ROOTS); default: `[dataRoot]`. */
    dataRoots?: readonly string[],
  ) {
    this.dataRoots = dataRoots ?? [dataRoot];
  }

  /** Inside a data root as written and after following symlinks, so a link cannot lead out. */
  private served(file: string): boolean {
    return this.dataRoots.some((root) => isConfinedTo(file, root));
  }

  private async folder(task: string | undefined, modelVersion: string | undefined) {
    const v = await this.predict.resolveVersion(task, modelVersion);
    const what = `model version v${v.version} of task ${v.task}`;
    const dataDir = dataDirOf(v.config);
    if (!dataDir)
      throw new PredictError(404, `${what}: its run config has no data.dir, so no predict/ folder`);
    const shown = path.posix.join(dataDir.split(path.sep).join("/"), "predict");
    const abs = path.resolve(this.dataRoot, dataDir, "predict");
    const where = path.isAbsolute(dataDir) ? shown : `${shown} under the API's data root (XNN_DATA_ROOT)`;
    // A run's config may name any folder (a sweep submitted before confinement, or from the CLI);
    // the API serves files only from the data roots it was given.
    if (!this.served(abs))
      throw new PredictError(
        403,
        `${what}: its data.dir ${JSON.stringify(dataDir)} is outside the API's data roots (XNN_DATA_ROOTS); no samples are served from it`,
      );
    const info = await stat(abs).catch(() => null);
    if (!info?.isDirectory())
      throw new PredictError(404, `${what}: its data set has no predict/ folder (looked for ${where})`);
    return { v, abs, shown };
  }

  async list(task?: string, modelVersion?: string): Promise<PredictSampleList> {
    const { v, abs, shown } = await this.folder(task, modelVersion);
    const found: { name: string; class: string | null; file: string }[] = [];
    const top = (await readdir(abs, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of top) {
      if (e.isDirectory() && !e.name.startsWith(".")) {
        const inner = await readdir(path.join(abs, e.name), { withFileTypes: true });
        for (const f of inner.sort((a, b) => a.name.localeCompare(b.name))) {
          if (isImageEntry(f))
            found.push({ name: `${e.name}/${f.name}`, class: e.name, file: path.join(abs, e.name, f.name) });
        }
      } else if (isImageEntry(e)) {
        found.push({ name: e.name, class: null, file: path.join(abs, e.name) });
      }
      if (found.length > MAX_SAMPLES) break;
    }
    const samples: PredictSample[] = [];
    for (const f of found.slice(0, MAX_SAMPLES)) {
      const info = await stat(f.file).catch(() => null);
      // A dangling link, a link to a folder or a link out of the data roots is not a sample.
      if (info?.isFile() && this.served(f.file))
        samples.push({ name: f.name, class: f.class, sizeBytes: info.size });
    }
    return {
      task: v.task,
      modelVersion: { id: v.id, version: v.version, alias: v.alias, runId: v.runId },
      folder: shown,
      samples,
      truncated: found.length > MAX_SAMPLES,
    };
  }

  async read(name: string, task?: string, modelVersion?: string): Promise<PredictSampleFile> {
    const problem = sampleNameProblem(name);
    if (problem) throw new PredictError(400, `bad sample name ${JSON.stringify(name)}: ${problem}`);
    const { abs, shown } = await this.folder(task, modelVersion);
    const file = path.resolve(abs, ...name.split("/"));
    // Belt and braces: the checks above already keep the path inside the folder.
    if (!file.startsWith(abs + path.sep))
      throw new PredictError(400, `bad sample name ${JSON.stringify(name)}`);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile() || !this.served(file)) throw new PredictError(404, `no sample ${name} in ${shown}`);
    if (info.size > MAX_UPLOAD_BYTES)
      throw new PredictError(
        413,
        `sample ${name} is larger than the ${MAX_UPLOAD_BYTES / 1024 / 1024} MB prediction limit`,
      );
    return {
      name,
      contentType: SAMPLE_TYPES[path.extname(name).toLowerCase()] ?? "application/octet-stream",
      bytes: await readFile(file),
    };
  }
}
