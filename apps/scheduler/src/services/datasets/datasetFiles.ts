import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { type ArtifactStore, localDataDir } from "@xnn/artifacts";
import { isConfinedTo } from "@xnn/shared";

/** The API will not read this data set's files (outside XNN_DATA_ROOTS, or a path that escapes its root). */
export class DatasetFileRefusedError extends Error {
  override name = "DatasetFileRefusedError";
}

/** The file is larger than the caller's limit; nothing was read. */
export class DatasetFileTooLargeError extends Error {
  override name = "DatasetFileTooLargeError";
}

/**
 * Where a data set version's files are, for the API: local roots only inside the configured data
 * roots (as written and after following symlinks), s3:// roots through the artifact store's local
 * copy, and an image path only inside its root. Every read of a data set file by the API goes
 * through here, so no request can make it read anything else.
 */
export class DatasetFiles {
  constructor(
    private readonly options: { artifacts: ArtifactStore; dataRoot: string; dataRoots: readonly string[] },
  ) {}

  /** The absolute path of `rel` inside the version's root; refused outside the data roots. */
  async resolve(root: string, rel: string): Promise<string> {
    const dir = await this.localRoot(root);
    const full = path.resolve(dir, rel);
    if (!isConfinedTo(full, dir))
      throw new DatasetFileRefusedError(`image path ${rel} leaves the data set root`);
    return full;
  }

  /** The bytes of `rel`, at most `maxBytes` of them. */
  async read(root: string, rel: string, maxBytes: number): Promise<Buffer> {
    const file = await this.resolve(root, rel);
    const { size } = await stat(file);
    if (size > maxBytes) {
      throw new DatasetFileTooLargeError(`${rel} is ${size} bytes; the limit is ${maxBytes}`);
    }
    return readFile(file);
  }

  private async localRoot(root: string): Promise<string> {
    if (root.startsWith("s3://")) return localDataDir(this.options.artifacts, root, this.options.dataRoot);
    if (!this.options.dataRoots.some((allowed) => isConfinedTo(root, allowed))) {
      throw new DatasetFileRefusedError(
        `data set root ${root} is outside the API's data roots (XNN_DATA_ROOTS: ${this.options.dataRoots.join(", ")})`,
      );
    }
    return root;
  }
}
