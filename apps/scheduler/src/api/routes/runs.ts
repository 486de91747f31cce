import { RunStatus, Stage } from "@xnn/db";
import { Router } from "express";
import { compareWithProduction } from "../../services/promotion/compareWithProduction";
import { promoteRun } from "../../services/promotion/promoteRun";
import { listRuns, RUN_FILTERS, RUN_SORT_FIELDS } from "../../services/runs/listRuns";
import { runCurves } from "../../services/runs/runCurves";
import { getRunDetail } from "../../services/runs/runDetail";
import { runMetrics } from "../../services/runs/runMetrics";
import { audited } from "../audited";
import { identityOf, requireRole } from "../auth";
import type { ApiDeps } from "../deps";
import { HttpError } from "../httpError";
import { pathParam } from "../params";
import { filterValues, parseListQuery, sendList } from "../simpleRest";
import { parsePromotionGuard, queryLevel, sendPromotion } from "./promotionResponse";

function enumValues<T extends string>(
  values: string[] | undefined,
  allowed: Record<string, T>,
  what: string,
) {
  for (const v of values ?? []) {
    if (!(v in allowed))
      throw new HttpError(400, `unknown ${what} ${v}; one of ${Object.keys(allowed).join(", ")}`);
  }
  return values as T[] | undefined;
}

export function runsRouter(deps: ApiDeps): Router {
  const router = Router();
  const viewer = requireRole(deps, "viewer");

  router.get("/", viewer, async (req, res) => {
    const q = parseListQuery(req, {
      sortable: RUN_SORT_FIELDS,
      defaultSort: { field: "queuedAt", order: "desc" },
      filters: RUN_FILTERS,
    });
    const { rows, total } = await listRuns(deps.sql, {
      sort: q.sort,
      skip: q.range.start,
      take: q.range.end - q.range.start + 1,
      ids: q.ids,
      sweepId: filterValues(q.filter, "sweepId"),
      status: enumValues(filterValues(q.filter, "status"), RunStatus, "run status"),
      model: filterValues(q.filter, "model"),
      stage: enumValues(filterValues(q.filter, "stage"), Stage, "stage"),
      classWeighting: filterValues(q.filter, "classWeighting"),
      q: filterValues(q.filter, "q")?.[0],
    });
    sendList(res, "runs", q, rows, total);
  });

  router.get("/:id", viewer, async (req, res) => {
    const run = await getRunDetail(deps.prisma, pathParam(req, "id"));
    if (!run) throw new HttpError(404, `run ${pathParam(req, "id")} not found`);
    res.json(run);
  });

  router.get("/:id/metrics", viewer, async (req, res) => {
    const exists = await deps.prisma.run.count({ where: { id: pathParam(req, "id") } });
    if (!exists) throw new HttpError(404, `run ${pathParam(req, "id")} not found`);
    res.json(await runMetrics(deps.sql, pathParam(req, "id")));
  });

  router.get("/:id/curves", viewer, async (req, res) => {
    const split = typeof req.query.split === "string" ? req.query.split : "test";
    const exists = await deps.prisma.run.count({ where: { id: pathParam(req, "id") } });
    if (!exists) throw new HttpError(404, `run ${pathParam(req, "id")} not found`);
    const curves = await runCurves(deps.sql, [pathParam(req, "id")], split);
    res.json(curves.get(pathParam(req, "id")) ?? { split, curves: {} });
  });

  router.post(
    "/:id/promote",
    audited(deps, "run.promote", { param: "id" }),
    requireRole(deps, "admin"),
    async (req, res) => {
      const guard = parsePromotionGuard(req);
      await sendPromotion(res, guard, (g) =>
        promoteRun(deps.prisma, pathParam(req, "id"), identityOf(res).name, g),
      );
    },
  );

  // What a promotion of this run would be judged on, for the dashboard to show before promoting.
  router.get("/:id/promotion-comparison", viewer, async (req, res) => {
    const level = queryLevel(req);
    const run = await deps.prisma.run.findUnique({
      where: { id: pathParam(req, "id") },
      select: { id: true, sweep: { select: { task: true } } },
    });
    if (!run) throw new HttpError(404, `run ${pathParam(req, "id")} not found`);
    res.json(await compareWithProduction(deps.prisma, run.sweep.task, run.id, level));
  });

  return router;
}
