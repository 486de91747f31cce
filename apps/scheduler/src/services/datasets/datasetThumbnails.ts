import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { renderThumbnail } from "@xnn/ml";
import type { DatasetFiles } from "./datasetFiles";

export const THUMBNAIL_SIZES = { min: 32, max: 1024 } as const;

/**
 * Server-made thumbnails of data set images, cached on disk by version, size, mask and path: a
 * version's content never changes (a change is a new version), so a cached file never goes stale.
 * Concurrent requests for one thumbnail share one render. Files are found through DatasetFiles,
 * which refuses anything outside the API's data roots.
 */
export class DatasetThumbnails {
  private readonly inFlight = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly options: {
      files: DatasetFiles;
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
    const { files } = this.options;
    const thumb = await renderThumbnail(
      await files.resolve(root, rel),
      size,
      mask ? await files.resolve(root, mask) : undefined,
    );
    await mkdir(path.dirname(file), { recursive: true });
    // Written aside and renamed, so a reader never sees half a file.
    const partial = `${file}.${process.pid}.${Date.now()}.part`;
    await writeFile(partial, thumb);
    await rename(partial, file);
    return thumb;
  }
}
