import { versionRunSchema } from "@xnn/shared/records";
import { Router } from "express";
import { z } from "zod";
import {
  DatasetFileRefusedError,
  DatasetFiles,
  DatasetFileTooLargeError,
} from "../../services/datasets/datasetFiles";
import {
  datasetImageDetail,
  IMAGE_FILTERS,
  IMAGE_SORT_FIELDS,
  type ImageQuery,
  listDatasetImages,
} from "../../services/datasets/datasetImages";
import {
  DATASET_SORT_FIELDS,
  getDataset,
  getDatasetVersion,
  listDatasets,
  productionTasksOfDataset,
} from "../../services/datasets/datasetRecords";
import { DatasetThumbnails, THUMBNAIL_SIZES } from "../../services/datasets/datasetThumbnails";
import { MAX_UPLOAD_BYTES, type PredictService } from "../../services/serving/predict";
import { requireRole } from "../auth";
import { type ApiDeps, artifactsOf } from "../deps";
import { HttpError } from "../httpError";
import { pathParam } from "../params";
import { parseListQuery, sendList } from "../simpleRest";
import { sendExplanation } from "./predict";

const SPLITS = ["train", "val", "test"];

function one(filter: Record<string, unknown>, key: string): unknown {
  const v = filter[key];
  if (Array.isArray(v)) {
    if (v.length !== 1) throw new HttpError(400, `filter.${key} takes one value, got ${v.length}`);
    return v[0];
  }
  return v === "" ? undefined : v;
}

function booleanFilter(filter: Record<string, unknown>, key: string): boolean | undefined {
  const v = one(filter, key);
  if (v === undefined || v === null) return undefined;
  if (v === true || v === "true") return true;
  if (v === false || v === "false") return false;
  throw new HttpError(400, `filter.${key} must be true or false; got ${JSON.stringify(v)}`);
}

function confidenceFilter(filter: Record<string, unknown>, key: string): number | undefined {
  const v = one(filter, key);
  if (v === undefined || v === null) return undefined;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new HttpError(400, `filter.${key} must be a number in [0, 1]; got ${JSON.stringify(v)}`);
  }
  return n;
}

function classFilter(filter: Record<string, unknown>, key: string, classNames: string[]): number | undefined {
  const v = one(filter, key);
  if (v === undefined || v === null) return undefined;
  const label = classNames.indexOf(String(v));
  if (label < 0) {
    throw new HttpError(
      400,
      `filter.${key} ${JSON.stringify(v)} is not a class of this data set; one of ${classNames.join(", ")}`,
    );
  }
  return label;
}

export function datasetsRouter(deps: ApiDeps): Router {
  const router = Router();
  const viewer = requireRole(deps, "viewer");

  router.get("/", viewer, async (req, res) => {
    const q = parseListQuery(req, {
      sortable: DATASET_SORT_FIELDS,
      defaultSort: { field: "updatedAt", order: "desc" },
      filters: [],
    });
    const { rows, total } = await listDatasets(deps.sql, {
      sort: q.sort,
      skip: q.range.start,
      take: q.range.end - q.range.start + 1,
      ids: q.ids,
    });
    sendList(res, "datasets", q, rows, total);
  });

  router.get("/:id", viewer, async (req, res) => {
    const dataset = await getDataset(deps.sql, pathParam(req, "id"));
    if (!dataset) throw new HttpError(404, `data set ${pathParam(req, "id")} not found`);
    res.json(dataset);
  });

  return router;
}

/** Data set versions: records, the image grid, thumbnails, one image's predictions and its explanation. */
export function datasetVersionsRouter(deps: ApiDeps, predict: PredictService): Router {
  const router = Router();
  const viewer = requireRole(deps, "viewer");

  async function versionOf(id: string) {
    const version = await getDatasetVersion(deps.sql, id);
    if (!version) throw new HttpError(404, `data set version ${id} not found`);
    return version;
  }

  router.get("/:id", viewer, async (req, res) => {
    res.json(await versionOf(pathParam(req, "id")));
  });

  // The runs that trained on this version, best test F1 first: whose predictions the grid can show.
  router.get("/:id/runs", viewer, async (req, res) => {
    const version = await versionOf(pathParam(req, "id"));
    const runs = await deps.sql`
      SELECT id, key, "sweepId", status, "testF1" FROM "Run" WHERE "datasetVersionId" = ${version.id}
      ORDER BY "testF1" DESC NULLS LAST, key LIMIT 500`;
    res.json(z.array(versionRunSchema).parse(runs));
  });

  // The image grid: paged (range), filtered by split, class and a run's predictions, sorted by path,
  // or by that run's confidence or per-image loss.
  router.get("/:id/images", viewer, async (req, res) => {
    const q = parseListQuery(req, {
      sortable: IMAGE_SORT_FIELDS,
      defaultSort: { field: "path", order: "asc" },
      filters: IMAGE_FILTERS,
    });
    const version = await versionOf(pathParam(req, "id"));
    const f = q.filter;
    const split = one(f, "split");
    if (split !== undefined && (typeof split !== "string" || !SPLITS.includes(split))) {
      throw new HttpError(
        400,
        `filter.split must be one of ${SPLITS.join(", ")}; got ${JSON.stringify(split)}`,
      );
    }
    const runValue = one(f, "runId");
    if (runValue !== undefined && typeof runValue !== "string") {
      throw new HttpError(400, `filter.runId must be a run id; got ${JSON.stringify(runValue)}`);
    }
    const query: ImageQuery = {
      versionId: version.id,
      classNames: version.classNames,
      split: split as string | undefined,
      label: classFilter(f, "class", version.classNames),
      runId: runValue,
      predicted: classFilter(f, "predicted", version.classNames),
      correct: booleanFilter(f, "correct"),
      minConfidence: confidenceFilter(f, "minConfidence"),
      maxConfidence: confidenceFilter(f, "maxConfidence"),
      hasMask: booleanFilter(f, "hasMask"),
      sort: q.sort,
      skip: q.range.start,
      take: q.range.end - q.range.start + 1,
    };
    const needsRun = (["predicted", "correct", "minConfidence", "maxConfidence"] as const).filter(
      (k) => query[k] !== undefined,
    );
    if (q.sort.field !== "path") needsRun.push(`sort by ${q.sort.field}` as never);
    if (!query.runId && needsRun.length > 0) {
      throw new HttpError(400, `${needsRun.join(", ")} need filter.runId: whose predictions?`);
    }
    if (query.runId) {
      const [run] = await deps.sql`SELECT id FROM "Run" WHERE id = ${query.runId}`;
      if (!run) throw new HttpError(400, `filter.runId ${query.runId}: no such run`);
    }
    const { rows, total } = await listDatasetImages(deps.sql, query);
    sendList(res, "images", q, rows, total);
  });

  const dataRoot = deps.dataRoot ?? process.cwd();
  const files = new DatasetFiles({
    artifacts: artifactsOf(deps),
    dataRoot,
    dataRoots: deps.dataRoots ?? [dataRoot],
  });
  const thumbnails = new DatasetThumbnails({ files, cacheDir: deps.thumbnailDir ?? ".xnn/thumbnails" });

  // A server-made JPEG of one image, fitted into size x size; mask=true draws its lesion mask over it.
  router.get("/:id/thumbnail", viewer, async (req, res) => {
    const imagePath = req.query.path;
    if (typeof imagePath !== "string" || imagePath === "") {
      throw new HttpError(400, "give the image as ?path=<split>/<class>/<file>");
    }
    const sizeRaw = req.query.size ?? "128";
    const size = Number(sizeRaw);
    if (!Number.isInteger(size) || size < THUMBNAIL_SIZES.min || size > THUMBNAIL_SIZES.max) {
      throw new HttpError(
        400,
        `size must be an integer from ${THUMBNAIL_SIZES.min} to ${THUMBNAIL_SIZES.max}; got ${JSON.stringify(sizeRaw)}`,
      );
    }
    const maskRaw = req.query.mask;
    if (maskRaw !== undefined && maskRaw !== "true" && maskRaw !== "false") {
      throw new HttpError(400, `mask must be true or false; got ${JSON.stringify(maskRaw)}`);
    }
    const version = await versionOf(pathParam(req, "id"));
    const [image] = await deps.sql<{ path: string; maskPath: string | null; error: string | null }[]>`
      SELECT path, "maskPath", error FROM "DatasetImage" WHERE "versionId" = ${version.id} AND path = ${imagePath}`;
    if (!image) throw new HttpError(404, `data set version ${version.id} has no image ${imagePath}`);
    if (image.error) throw new HttpError(409, `${imagePath} is not a readable image: ${image.error}`);
    try {
      const jpeg = await thumbnails.get(version, image, size, maskRaw === "true");
      res.setHeader("Content-Type", "image/jpeg");
      // A version's images never change: the browser may keep them.
      res.setHeader("Cache-Control", "private, max-age=86400, immutable");
      res.end(jpeg);
    } catch (err) {
      if (err instanceof DatasetFileRefusedError) throw new HttpError(409, err.message);
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new HttpError(409, `${imagePath} is registered but no longer on disk under ${version.root}`);
      }
      throw err;
    }
  });

  // The production model's (or body.modelVersion's) prediction and Integrated Gradients overlay for one
  // image of this version, computed by a worker like POST /api/predict (same answers, 503 when no
  // worker explains, Prefer: respond-async). The API reads the file itself, through DatasetFiles,
  // so the browser sends only the path of a registered image and nothing outside the data roots is read.
  router.post("/:id/explain", viewer, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const imagePath = body.path;
    if (typeof imagePath !== "string" || imagePath === "") {
      throw new HttpError(
        400,
        'send JSON {"path": "<split>/<class>/<file>"}, optionally with "modelVersion" and "task"',
      );
    }
    for (const key of ["modelVersion", "task"]) {
      if (body[key] !== undefined && (typeof body[key] !== "string" || body[key] === "")) {
        throw new HttpError(400, `${key} must be a non-empty string; got ${JSON.stringify(body[key])}`);
      }
    }
    const version = await versionOf(pathParam(req, "id"));
    const [image] = await deps.sql<{ path: string; error: string | null }[]>`
      SELECT path, error FROM "DatasetImage" WHERE "versionId" = ${version.id} AND path = ${imagePath}`;
    if (!image) throw new HttpError(404, `data set version ${version.id} has no image ${imagePath}`);
    if (image.error) throw new HttpError(409, `${imagePath} is not a readable image: ${image.error}`);
    let task = body.task as string | undefined;
    if (!task) {
      const tasks = await productionTasksOfDataset(deps.sql, version.datasetId);
      if (tasks.length > 1) {
        throw new HttpError(
          400,
          `production models of several tasks trained on this data set (${tasks.join(", ")}): give "task"`,
        );
      }
      // None linked (runs from before data sets were recorded): the predict service's default task.
      task = tasks[0];
    }
    let bytes: Buffer;
    try {
      bytes = await files.read(version.root, image.path, MAX_UPLOAD_BYTES);
    } catch (err) {
      if (err instanceof DatasetFileRefusedError) throw new HttpError(409, err.message);
      if (err instanceof DatasetFileTooLargeError) throw new HttpError(413, err.message);
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new HttpError(409, `${imagePath} is registered but no longer on disk under ${version.root}`);
      }
      throw err;
    }
    await sendExplanation(req, res, predict, {
      image: bytes,
      task,
      modelVersion: body.modelVersion as string | undefined,
    });
  });

  // One image and every run's prediction for it: ?path=test/normal/img-1.png
  router.get("/:id/image", viewer, async (req, res) => {
    const path = req.query.path;
    if (typeof path !== "string" || path === "")
      throw new HttpError(400, "give the image as ?path=<split>/<class>/<file>");
    const version = await versionOf(pathParam(req, "id"));
    const detail = await datasetImageDetail(deps.sql, version.id, version.classNames, path);
    if (!detail) throw new HttpError(404, `data set version ${version.id} has no image ${path}`);
    res.json(detail);
  });

  return router;
}
