import { Router } from "express";
import { compareRuns, MAX_COMPARE_RUNS } from "../../services/runs/compareRuns";
import { requireRole } from "../auth";
import type { ApiDeps } from "../deps";
import { HttpError } from "../httpError";

export function compareRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/", requireRole(deps, "viewer"), async (req, res) => {
    const raw = req.query.runs;
    if (typeof raw !== "string" || raw.trim() === "") {
      throw new HttpError(400, "give the runs to compare as ?runs=id1,id2,...");
    }
    const ids = [
      ...new Set(
        raw
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      ),
    ];
    if (ids.length > MAX_COMPARE_RUNS) {
      throw new HttpError(400, `at most ${MAX_COMPARE_RUNS} runs can be compared at once; got ${ids.length}`);
    }
    const { missing, ...comparison } = await compareRuns(deps.sql, ids);
    if (missing.length > 0) {
      throw new HttpError(404, `unknown runs: ${missing.slice(0, 10).join(", ")}`, { missing });
    }
    res.json(comparison);
  });
  return router;
}
