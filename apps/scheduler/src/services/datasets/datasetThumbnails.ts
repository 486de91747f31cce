import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { type ArtifactStore, localDataDir } from "@xnn/artifacts";
import { renderThumbnail } from "@xnn/ml";
import { isConfinedTo } from "@xnn/shared";

export const THUMBNAIL_SIZES = { min: 32, max: 1024 } as const;

/** The API will not read this data set's files (outside XNN_DATA_ROOTS, or a path that escapes its root). */
export class ThumbnailRefusedError extends Error {
  override name = "ThumbnailRefusedError";
}

/**
 * Server-made thumbnails of data set images, cached on disk by version, size, mask and path: a
 * version's content never changes (a change is a new version), so a cached file never goes stale.
 * Concurrent requests for one thumbnail share one render.
 */
export class DatasetThumbnails {
  private readonly inFlight = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly options: {
      artifacts: ArtifactStore;
      dataRoot: string;
      dataRoots: readonly string[];
      cacheDir: string;
    },
  ) {}

  async get(
    version: { id: string; root: string },
    image: { path: string; maskPath: string | null },
    size: number,
    withMask: boolean,
  ): Promise<Buffer> {
    const mask = withMask && image.maskPath ? image.maskPath : null;
    const digest = createHash("sha256").update(image.path).digest("hex").slice(0, 32);
    const file = path.join(
      this.options.cacheDir,
      version.id,
      `${size}${mask ? "-mask" : ""}`,
      `${digest}.jpg`,
    );
    const running = this.inFlight.get(file);
    if (running) return running;
    const job = this.load(file, version.root, image.path, mask, size).finally(() =>
      this.inFlight.delete(file),
    );
    this.inFlight.set(file, job);
    return job;
  }

  private async load(
    file: string,
    root: string,
    rel: string,
    mask: string | null,
    size: number,
  ): Promise<Buffer> {
    try {
      return await readFile(file);
    } catch {
      // Not cached yet.
    }
    const dir = await this.localRoot(root);
    const thumb = await renderThumbnail(
      this.inside(dir, rel),
      size,
      mask ? this.inside(dir, mask) : undefined,
    );
    await mkdir(path.dirname(file), { recursive: true });
    // Written aside and renamed, so a reader never sees half a file.
    const partial = `${file}.${process.pid}.${Date.now()}.part`;
    await writeFile(partial, thumb);
    await rename(partial, file);
    return thumb;
  }

  private async localRoot(root: string): Promise<string> {
    if (root.startsWith("s3://")) return localDataDir(this.options.artifacts, root, this.options.dataRoot);
    if (!this.options.dataRoots.some((allowed) => isConfinedTo(root, allowed))) {
      throw new ThumbnailRefusedError(
        `data set root ${root} is outside the API's data roots (XNN_DATA_ROOTS: ${this.options.dataRoots.join(", ")})`,
      );
    }
    return root;
  }

  private inside(dir: string, rel: string): string {
    const full = path.resolve(dir, rel);
    if (!isConfinedTo(full, dir))
      throw new ThumbnailRefusedError(`image path ${rel} leaves the data set root`);
    return full;
  }
}
