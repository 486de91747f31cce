import { type Request, Router } from "express";
import { PredictError } from "../../services/serving/predict";
import type { PredictSamples } from "../../services/serving/predictSamples";
import { requireRole } from "../auth";
import type { ApiDeps } from "../deps";
import { HttpError } from "../httpError";

function query(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PredictError) throw new HttpError(err.status, err.message);
    throw err;
  }
}

/**
 * GET /api/predict/samples: the images in the data set `predict/` folder of a model version (default:
 * production; `?task=`, `?modelVersion=` as for POST /api/predict).
 * GET /api/predict/samples/<class>/<file>: one of them (the name as listed; "/" may be sent as %2F).
 */
export function predictSamplesRouter(deps: ApiDeps, samples: PredictSamples): Router {
  const router = Router();
  router.get("/", requireRole(deps, "viewer"), async (req, res) => {
    res.json(await answer(() => samples.list(query(req, "task"), query(req, "modelVersion"))));
  });
  router.get("/*name", requireRole(deps, "viewer"), async (req, res) => {
    const raw = (req.params as { name?: string | string[] }).name;
    const name = Array.isArray(raw) ? raw.join("/") : (raw ?? "");
    const file = await answer(() => samples.read(name, query(req, "task"), query(req, "modelVersion")));
    res
      .type(file.contentType)
      .set("Cache-Control", "private, max-age=300")
      .set("X-Content-Type-Options", "nosniff")
      .send(file.bytes);
  });
  return router;
}
