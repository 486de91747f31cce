import type { Sql } from "@xnn/db";
import {
  type DatasetImage,
  datasetImageSchema,
  type ImageDetail,
  imageDetailSchema,
} from "@xnn/shared/records";

export const IMAGE_SORT_FIELDS = ["path", "confidence", "loss"] as const;
export type ImageSortField = (typeof IMAGE_SORT_FIELDS)[number];
export const IMAGE_FILTERS = [
  "split",
  "class",
  "runId",
  "predicted",
  "correct",
  "minConfidence",
  "maxConfidence",
  "hasMask",
] as const;

/** Filters already checked against the version (class names to indices, numbers in range). */
export interface ImageQuery {
  versionId: string;
  classNames: string[];
  split?: string;
  label?: number;
  runId?: string;
  predicted?: number;
  correct?: boolean;
  minConfidence?: number;
  maxConfidence?: number;
  hasMask?: boolean;
  sort: { field: ImageSortField; order: "asc" | "desc" };
  skip: number;
  take: number;
}

// The loss of one image is the cross-entropy of its true class, clipped as training clips it.
const LOSS = `-ln(greatest(p.probabilities[i.label + 1], 1e-7))`;
const CONFIDENCE = `p.probabilities[p.predicted + 1]`;

/**
 * A page of a data set version's images and the filtered total. With a run, each image carries that
 * run's prediction (joined on the prediction's unique (run, split, path) index), and the prediction
 * filters and sorts apply; images the run has no prediction for drop out of those filters.
 */
export async function listDatasetImages(
  sql: Sql,
  q: ImageQuery,
): Promise<{ rows: DatasetImage[]; total: number }> {
  const run = q.runId ?? null;
  const join = run
    ? sql`${q.predicted !== undefined || q.correct !== undefined || q.minConfidence !== undefined || q.maxConfidence !== undefined || q.sort.field !== "path" ? sql`JOIN` : sql`LEFT JOIN`}
        "Prediction" p ON p."runId" = ${run} AND p.split = i.split AND p."itemPath" = i.path`
    : sql``;
  const where = sql`
    i."versionId" = ${q.versionId}
    ${q.split ? sql`AND i.split = ${q.split}` : sql``}
    ${q.label !== undefined ? sql`AND i.label = ${q.label}` : sql``}
    ${q.hasMask !== undefined ? (q.hasMask ? sql`AND i."maskPath" IS NOT NULL` : sql`AND i."maskPath" IS NULL`) : sql``}
    ${run && q.predicted !== undefined ? sql`AND p.predicted = ${q.predicted}` : sql``}
    ${run && q.correct !== undefined ? (q.correct ? sql`AND p.predicted = i.label` : sql`AND p.predicted <> i.label`) : sql``}
    ${run && q.minConfidence !== undefined ? sql`AND ${sql.unsafe(CONFIDENCE)} >= ${q.minConfidence}` : sql``}
    ${run && q.maxConfidence !== undefined ? sql`AND ${sql.unsafe(CONFIDENCE)} <= ${q.maxConfidence}` : sql``}`;
  const direction = q.sort.order === "asc" ? "ASC" : "DESC";
  const order =
    q.sort.field === "path"
      ? sql.unsafe(`i.path ${direction}`)
      : sql.unsafe(`${q.sort.field === "confidence" ? CONFIDENCE : LOSS} ${direction}, i.path`);
  const predictionColumns = run
    ? sql`, p.predicted, ${sql.unsafe(CONFIDENCE)} AS confidence, ${sql.unsafe(LOSS)} AS loss`
    : sql``;
  const [rows, [count]] = await Promise.all([
    sql<
      (Omit<DatasetImage, "id" | "className" | "prediction"> & {
        predicted?: number | null;
        confidence?: number | null;
        loss?: number | null;
      })[]
    >`
      SELECT i.path, i.split, i.label, i.width, i.height, i.format, i."maskPath", i.error ${predictionColumns}
      FROM "DatasetImage" i ${join}
      WHERE ${where}
      ORDER BY ${order} OFFSET ${q.skip} LIMIT ${q.take}`,
    sql<{ n: number }[]>`SELECT count(*)::int AS n FROM "DatasetImage" i ${join} WHERE ${where}`,
  ]);
  const name = (k: number) => q.classNames[k] ?? String(k);
  return {
    total: count?.n ?? 0,
    rows: rows.map(({ predicted, confidence, loss, ...image }) =>
      datasetImageSchema.parse({
        id: image.path,
        ...image,
        className: name(image.label),
        prediction:
          predicted === undefined || predicted === null
            ? null
            : {
                predicted,
                predictedClass: name(predicted),
                confidence: confidence ?? 0,
                loss: loss ?? 0,
                correct: predicted === image.label,
              },
      }),
    ),
  };
}

/** One image with every prediction made for it by a run trained on this data set version. */
export async function datasetImageDetail(
  sql: Sql,
  versionId: string,
  classNames: string[],
  path: string,
): Promise<ImageDetail | null> {
  const [image] = await sql<Omit<DatasetImage, "id" | "className" | "prediction">[]>`
    SELECT path, split, label, width, height, format, "maskPath", error
    FROM "DatasetImage" WHERE "versionId" = ${versionId} AND path = ${path}`;
  if (!image) return null;
  const predictions = await sql<
    {
      runId: string;
      runKey: string;
      sweepId: string;
      predicted: number;
      probabilities: number[];
      isProduction: boolean;
    }[]
  >`
    SELECT r.id AS "runId", r.key AS "runKey", r."sweepId", p.predicted, p.probabilities,
      EXISTS (SELECT 1 FROM "ModelVersion" m WHERE m."runId" = r.id AND m.alias = 'production') AS "isProduction"
    FROM "Prediction" p JOIN "Run" r ON r.id = p."runId"
    WHERE r."datasetVersionId" = ${versionId} AND p.split = ${image.split} AND p."itemPath" = ${path}
    ORDER BY r."sweepId", r.key`;
  const name = (k: number) => classNames[k] ?? String(k);
  return imageDetailSchema.parse({
    image: { id: image.path, ...image, className: name(image.label) },
    predictions: predictions.map((p) => ({
      ...p,
      predictedClass: name(p.predicted),
      confidence: p.probabilities[p.predicted] ?? 0,
      correct: p.predicted === image.label,
    })),
  });
}
