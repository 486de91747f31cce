import { randomUUID } from "node:crypto";
import type { DatasetSizes } from "@xnn/shared/records";
import type { Sql } from "./sql";

/** What the registry stores about one data set content (the shape of @xnn/ml's describeDataset). */
export interface DatasetVersionInput {
  /** The folder root or s3:// store URL the data set is known by. */
  root: string;
  classNames: string[];
  fingerprint: string;
  imageCount: number;
  classCounts: Record<string, Record<string, number>>;
  formats: Record<string, number>;
  /** The API parses it back with datasetSizesSchema: a row that does not fit answers 500. */
  sizes: DatasetSizes;
  unreadable: { path: string; reason: string }[];
  maskCount: number;
  images: {
    path: string;
    split: string;
    label: number;
    width: number | null;
    height: number | null;
    format: string | null;
    bytes: number;
    maskPath: string | null;
    error: string | null;
  }[];
}

export interface RegisteredDatasetVersion {
  datasetId: string;
  versionId: string;
  /** False when this content was registered before (by anyone): nothing was written. */
  created: boolean;
}

const IMAGE_CHUNK = 5000;

function nameOf(root: string): string {
  const trimmed = root.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1) || trimmed;
}

/**
 * Registers a data set's content: its location (Dataset, by root) and this content (DatasetVersion,
 * by fingerprint) with one row per image. Idempotent and safe under concurrency: registering the
 * same content again, or from two workers at once, yields the one existing version.
 */
export async function registerDatasetVersion(
  sql: Sql,
  input: DatasetVersionInput,
  registeredBy: string,
): Promise<RegisteredDatasetVersion> {
  return sql.begin(async (tx) => {
    // Serialises registrations of one root, so two first uses do not both insert its images.
    await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`xnn:dataset:${input.root}`}, 0))`;
    const classCounts = tx.json(input.classCounts as never);
    const [dataset] = await tx<{ id: string }[]>`
      INSERT INTO "Dataset" (id, name, root, "classNames", "classCounts", "updatedAt")
      VALUES (${randomUUID()}, ${nameOf(input.root)}, ${input.root}, ${input.classNames}, ${classCounts}, now())
      ON CONFLICT (root) DO UPDATE SET "classNames" = EXCLUDED."classNames",
        "classCounts" = EXCLUDED."classCounts", "updatedAt" = now()
      RETURNING id`;
    const datasetId = dataset!.id;
    const [existing] = await tx<{ id: string }[]>`
      SELECT id FROM "DatasetVersion" WHERE "datasetId" = ${datasetId} AND fingerprint = ${input.fingerprint}`;
    if (existing) return { datasetId, versionId: existing.id, created: false };
    const versionId = randomUUID();
    await tx`
      INSERT INTO "DatasetVersion" (id, "datasetId", fingerprint, "classNames", "classCounts", "imageCount",
        formats, sizes, unreadable, "maskCount", "registeredBy")
      VALUES (${versionId}, ${datasetId}, ${input.fingerprint}, ${input.classNames}, ${classCounts},
        ${input.imageCount}, ${tx.json(input.formats as never)}, ${tx.json(input.sizes as never)},
        ${tx.json(input.unreadable as never)}, ${input.maskCount}, ${registeredBy})`;
    for (let i = 0; i < input.images.length; i += IMAGE_CHUNK) {
      const part = input.images.slice(i, i + IMAGE_CHUNK);
      await tx`
        INSERT INTO "DatasetImage" ("versionId", path, split, label, width, height, format, bytes, "maskPath", error)
        SELECT ${versionId}, * FROM jsonb_to_recordset(${JSON.stringify(part)}::text::jsonb)
          AS x(path text, split text, label int, width int, height int, format text, bytes int, "maskPath" text, error text)`;
    }
    return { datasetId, versionId, created: true };
  });
}

/** Records which data set version a run trained on. */
export async function linkRunDataset(sql: Sql, runId: string, versionId: string): Promise<void> {
  await sql`UPDATE "Run" SET "datasetVersionId" = ${versionId} WHERE id = ${runId}`;
}
