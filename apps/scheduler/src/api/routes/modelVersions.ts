import { Router } from "express";
import {
  getProduction,
  listModelVersions,
  MODEL_VERSION_FILTERS,
  MODEL_VERSION_SORT_FIELDS,
} from "../../services/promotion/modelVersions";
import { requireRole } from "../auth";
import type { ApiDeps } from "../deps";
import { HttpError } from "../httpError";
import { filterValues, parseListQuery, sendList } from "../simpleRest";

export function modelVersionsRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/", requireRole(deps, "viewer"), async (req, res) => {
    const q = parseListQuery(req, {
      sortable: MODEL_VERSION_SORT_FIELDS,
      defaultSort: { field: "createdAt", order: "desc" },
      filters: MODEL_VERSION_FILTERS,
    });
    const { rows, total } = await listModelVersions(deps.prisma, {
      sort: q.sort,
      skip: q.range.start,
      take: q.range.end - q.range.start + 1,
      ids: q.ids,
      task: filterValues(q.filter, "task"),
      alias: filterValues(q.filter, "alias"),
      runId: filterValues(q.filter, "runId"),
    });
    sendList(res, "model-versions", q, rows, total);
  });
  return router;
}

export function productionRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/", requireRole(deps, "viewer"), async (req, res) => {
    const task = req.query.task;
    if (typeof task !== "string" || task === "") throw new HttpError(400, "give the task as ?task=<name>");
    const production = await getProduction(deps.prisma, task);
    if (!production) throw new HttpError(404, `task ${task} has no production model yet`);
    res.json(production);
  });
  return router;
}
