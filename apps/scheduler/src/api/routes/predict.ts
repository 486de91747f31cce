import { type Request, type Response, Router } from "express";
import multer from "multer";
import {
  MAX_UPLOAD_BYTES,
  PredictError,
  type PredictRequest,
  type PredictService,
} from "../../services/serving/predict";
import { PredictSamples } from "../../services/serving/predictSamples";
import { requireRole } from "../auth";
import type { ApiDeps } from "../deps";
import { HttpError } from "../httpError";
import { predictSamplesRouter } from "./predictSamples";

const upload = multer({
  storage: multer.memoryStorage(),
  limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 8 },
});

/** multer reports limits through its callback; turn them into answers that say what was wrong. */
function receiveImage(req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    upload.single("image")(req, res, (err: unknown) => {
      if (!err) return resolve();
      if (err instanceof multer.MulterError) {
        if (err.code === "LIMIT_FILE_SIZE")
          return reject(
            new HttpError(413, `the image is larger than the ${MAX_UPLOAD_BYTES / 1024 / 1024} MB limit`),
          );
        if (err.code === "LIMIT_UNEXPECTED_FILE")
          return reject(
            new HttpError(400, `send the image as the multipart field "image" (got "${err.field}")`),
          );
        return reject(new HttpError(400, `bad multipart upload: ${err.message}`));
      }
      reject(new HttpError(400, `bad multipart upload: ${(err as Error).message}`));
    });
  });
}

function field(req: Request, name: string): string | undefined {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const v = body[name] ?? req.query[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** RFC 7240: the client would rather have a 202 and poll than hold the request open. */
export function wantsAsync(req: Request): boolean {
  return /(^|[\s,])respond-async($|[\s,;])/.test(req.get("Prefer") ?? "");
}

/**
 * POST /api/predict: multipart `image` (+ optional `modelVersion`, `task`) -> prediction and IG overlay,
 * computed by a worker serving the explain queue (503: none does; 504: it took too long). With
 * `Prefer: respond-async`: 202 and where the explanation stands, polled at GET /api/predict/jobs/<id>.
 * GET /api/predict/samples[/<name>]: the data set's predict/ images to try it on.
 */
export function predictRouter(deps: ApiDeps, service: PredictService): Router {
  const router = Router();
  router.use(
    "/samples",
    predictSamplesRouter(deps, new PredictSamples(service, deps.dataRoot ?? process.cwd(), deps.dataRoots)),
  );
  router.post("/", requireRole(deps, "viewer"), async (req, res) => {
    if (!req.is("multipart/form-data"))
      throw new HttpError(415, 'send the image as multipart/form-data in the field "image"');
    await receiveImage(req, res);
    if (!req.file) throw new HttpError(400, 'no image: send it as the multipart field "image"');
    await sendExplanation(req, res, service, {
      image: req.file.buffer,
      task: field(req, "task"),
      modelVersion: field(req, "modelVersion"),
    });
  });
  router.get("/jobs/:jobId", requireRole(deps, "viewer"), async (req, res) => {
    const status = await service.status(String(req.params.jobId));
    if (status.state === "unknown")
      throw new HttpError(
        404,
        `no explanation ${req.params.jobId}: it never existed or finished too long ago`,
      );
    res.json(status);
  });
  return router;
}

/**
 * Explains `request` and answers: the explanation, or with `Prefer: respond-async` a 202 and where
 * it stands, polled at GET /api/predict/jobs/<id>. Predict errors become their HTTP answers.
 */
export async function sendExplanation(
  req: Request,
  res: Response,
  service: PredictService,
  request: PredictRequest,
): Promise<void> {
  try {
    if (wantsAsync(req)) {
      const status = await service.submit(request);
      // Polled where the predict router is mounted, beside this router (both under /api).
      const api = req.baseUrl.replace(/\/[^/]*$/, "");
      res
        .status(202)
        .set("Location", `${api}/predict/jobs/${status.jobId}`)
        .set("Preference-Applied", "respond-async")
        .json(status);
      return;
    }
    const { response, cached } = await service.predict(request);
    res.set("X-Explain-Cache", cached ? "hit" : "miss").json(response);
  } catch (err) {
    if (err instanceof PredictError) throw new HttpError(err.status, err.message);
    throw err;
  }
}
