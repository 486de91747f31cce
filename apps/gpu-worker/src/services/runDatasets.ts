import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import path from "node:path";
import { linkRunDataset, registerDatasetVersion, type Sql } from "@xnn/db";
import { describeDataset, scanDataset } from "@xnn/ml";

/**
 * Registers the data set each run trains on and links the run to that version. The full
 * description reads every image, so it is done on a folder's first use by this process and again
 * only when the folder's listing, sizes or modification times change.
 */
export class RunDatasets {
  private readonly known = new Map<string, { signature: string; versionId: string }>();

  constructor(
    private readonly sql: Sql,
    private readonly registeredBy: string,
  ) {}

  /**
   * @param root the data set as the run names it: an s3:// URL, or the folder (made absolute).
   * @param localDir where this host holds it.
   * @returns the linked version's id.
   */
  async linkRun(runId: string, root: string, localDir: string): Promise<string> {
    const key = `${root}\n${localDir}`;
    const signature = await listingSignature(localDir);
    let entry = this.known.get(key);
    if (!entry || entry.signature !== signature) {
      const description = await describeDataset(localDir);
      const registered = await registerDatasetVersion(this.sql, { ...description, root }, this.registeredBy);
      entry = { signature, versionId: registered.versionId };
      this.known.set(key, entry);
    }
    await linkRunDataset(this.sql, runId, entry.versionId);
    return entry.versionId;
  }
}

async function listingSignature(localDir: string): Promise<string> {
  const scanned = await scanDataset(localDir);
  const hash = createHash("sha256");
  for (const items of Object.values(scanned.splits)) {
    for (const item of items) {
      const s = await stat(path.join(scanned.root, item.path));
      hash.update(`${item.path}\t${s.size}\t${s.mtimeMs}\n`);
    }
  }
  return hash.digest("hex");
}
