import { Router } from "express";
import { listWorkers, WORKER_FILTERS, WORKER_SORT_FIELDS } from "../../services/workers/listWorkers";
import { requireRole } from "../auth";
import type { ApiDeps } from "../deps";
import { filterValues, parseListQuery, sendList } from "../simpleRest";

export function workersRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/", requireRole(deps, "viewer"), async (req, res) => {
    const q = parseListQuery(req, {
      sortable: WORKER_SORT_FIELDS,
      defaultSort: { field: "lastHeartbeat", order: "desc" },
      filters: WORKER_FILTERS,
    });
    const { rows, total } = await listWorkers(deps.prisma, {
      sort: q.sort,
      skip: q.range.start,
      take: q.range.end - q.range.start + 1,
      ids: q.ids,
      status: filterValues(q.filter, "status"),
      host: filterValues(q.filter, "host"),
      backend: filterValues(q.filter, "backend"),
    });
    sendList(res, "workers", q, rows, total);
  });
  return router;
}
