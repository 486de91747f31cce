import { type Request, type Response, Router } from "express";
import multer from "multer";
import { MAX_UPLOAD_BYTES, PredictError, PredictService } from "../../services/serving/predict";
import { PredictSamples } from "../../services/serving/predictSamples";
import { requireRole } from "../auth";
import { type ApiDeps, artifactsOf } from "../deps";
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

/**
 * POST /api/predict: multipart `image` (+ optional `modelVersion`, `task`) -> prediction and IG overlay;
 * GET /api/predict/samples[/<name>]: the data set's predict/ images to try it on.
 */
export function predictRouter(
  deps: ApiDeps,
  service = new PredictService(deps.prisma, deps.logger, artifactsOf(deps)),
): Router {
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
    try {
      res.json(
        await service.predict({
          image: req.file.buffer,
          task: field(req, "task"),
          modelVersion: field(req, "modelVersion"),
        }),
      );
    } catch (err) {
      if (err instanceof PredictError) throw new HttpError(err.status, err.message);
      throw err;
    }
  });
  return router;
}
