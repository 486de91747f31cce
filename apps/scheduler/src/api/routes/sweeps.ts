import path from "node:path";
import { SweepStatus } from "@xnn/db";
import { EnqueueError, submitSweep } from "@xnn/orchestration";
import { ConfigError, type ConfigIssue, type LoadedSweep, loadSweepText, sweepIdFor } from "@xnn/shared";
import type { FlowProducer, Queue } from "bullmq";
import { Router } from "express";
import { analyseSweep } from "../../services/analysis/sweepAnalysis";
import { sweepDatasets } from "../../services/datasets/datasetRecords";
import { compareWithProduction } from "../../services/promotion/compareWithProduction";
import { bestRunOfSweep, promoteBestRun } from "../../services/promotion/promoteRun";
import { cancelSweep, SweepNotFoundError } from "../../services/sweeps/cancelSweep";
import { getSweep, listSweeps, SWEEP_FILTERS, SWEEP_SORT_FIELDS } from "../../services/sweeps/listSweeps";
import { audited } from "../audited";
import { identityOf, requireRole } from "../auth";
import { type ApiDeps, artifactsOf } from "../deps";
import { HttpError } from "../httpError";
import { pathParam } from "../params";
import { filterValues, parseListQuery, sendList } from "../simpleRest";
import { parsePromotionGuard, queryLevel, sendPromotion } from "./promotionResponse";

/** The sweep text from either `{ yaml, new? }` JSON or a raw text/yaml body. */
function sweepBody(body: unknown): { yaml: string; fresh: boolean } {
  if (typeof body === "string") return { yaml: body, fresh: false };
  if (body && typeof body === "object" && typeof (body as { yaml?: unknown }).yaml === "string") {
    const b = body as { yaml: string; new?: unknown };
    return { yaml: b.yaml, fresh: b.new === true };
  }
  throw new HttpError(400, 'send the sweep as JSON {"yaml": "...", "new": false} or as a text/yaml body');
}

/**
 * Issues without `file` (the submitted text has none). A problem inside a base config under conf/
 * keeps its location but names that file in the message, since its line:col are not the editor's.
 */
function apiIssues(err: ConfigError, confDir: string): Omit<ConfigIssue, "file">[] {
  return err.issues.map(({ file, ...issue }) =>
    file
      ? {
          ...issue,
          message: `in ${path.relative(confDir, path.resolve(file)) || file}:${issue.line}:${issue.col}: ${issue.message}`,
        }
      : issue,
  );
}

function load(deps: ApiDeps, yaml: string): LoadedSweep {
  try {
    // Submitted over the network: the sweep may only name files the server chose to offer.
    const dataRoot = deps.dataRoot ?? process.cwd();
    const store = artifactsOf(deps);
    return loadSweepText(yaml, {
      confine: {
        confDir: deps.confDir,
        dataRoot,
        dataRoots: deps.dataRoots ?? [dataRoot],
        ...(store.kind === "s3" ? { artifactUrl: store.url } : {}),
      },
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new HttpError(400, "invalid sweep", { issues: apiIssues(err, deps.confDir) });
    }
    throw err;
  }
}

export function sweepsRouter(deps: ApiDeps, queue: { queue: Queue; flows: FlowProducer }): Router {
  const router = Router();
  const viewer = requireRole(deps, "viewer");
  const operator = requireRole(deps, "operator");
  const admin = requireRole(deps, "admin");

  router.get("/", viewer, async (req, res) => {
    const q = parseListQuery(req, {
      sortable: SWEEP_SORT_FIELDS,
      defaultSort: { field: "createdAt", order: "desc" },
      filters: SWEEP_FILTERS,
    });
    const status = filterValues(q.filter, "status");
    for (const s of status ?? []) {
      if (!(s in SweepStatus)) throw new HttpError(400, `unknown sweep status ${s}`);
    }
    const { rows, total } = await listSweeps(deps.prisma, {
      sort: q.sort,
      skip: q.range.start,
      take: q.range.end - q.range.start + 1,
      ids: q.ids,
      q: filterValues(q.filter, "q")?.[0],
      name: filterValues(q.filter, "name"),
      status: status as SweepStatus[] | undefined,
      task: filterValues(q.filter, "task"),
    });
    sendList(res, "sweeps", q, rows, total);
  });

  router.post("/validate", viewer, (req, res) => {
    const loaded = load(deps, sweepBody(req.body).yaml);
    res.json({
      sweepId: sweepIdFor(loaded.name, loaded.fingerprint),
      name: loaded.name,
      task: loaded.task,
      runs: loaded.runs.map((r) => ({
        key: r.key,
        model: r.model,
        classWeighting: r.classWeighting,
        stage: r.stage,
        dependsOn: r.dependsOn,
        configHash: r.configHash,
      })),
    });
  });

  router.post("/", audited(deps, "sweep.submit", "answer"), operator, async (req, res) => {
    const body = sweepBody(req.body);
    const fresh = body.fresh || req.query.new === "1" || req.query.new === "true";
    const loaded = load(deps, body.yaml);
    try {
      const result = await submitSweep({ prisma: deps.prisma, flows: queue.flows }, loaded, {
        fresh,
        createdBy: identityOf(res).name,
      });
      res.status(result.created ? 201 : 200).json({
        id: result.sweepId,
        created: result.created,
        runs: result.runs,
        jobs: result.jobs,
        status: result.status,
      });
    } catch (err) {
      if (err instanceof EnqueueError) throw new HttpError(503, err.message);
      throw err;
    }
  });

  router.get("/:id", viewer, async (req, res) => {
    const sweep = await getSweep(deps.prisma, pathParam(req, "id"));
    if (!sweep) throw new HttpError(404, `sweep ${pathParam(req, "id")} not found`);
    res.json(sweep);
  });

  router.post("/:id/cancel", audited(deps, "sweep.cancel", { param: "id" }), operator, async (req, res) => {
    try {
      res.json(
        await cancelSweep(
          { prisma: deps.prisma, queue: queue.queue, redis: deps.redis },
          pathParam(req, "id"),
        ),
      );
    } catch (err) {
      if (err instanceof SweepNotFoundError) throw new HttpError(404, err.message);
      throw err;
    }
  });

  router.post(
    "/:id/promote-best",
    audited(deps, "sweep.promote-best", { param: "id" }),
    admin,
    async (req, res) => {
      const guard = parsePromotionGuard(req);
      await sendPromotion(res, guard, (g) =>
        promoteBestRun(deps.prisma, pathParam(req, "id"), identityOf(res).name, g),
      );
    },
  );

  // Per axis: its effect on test weighted F1 and each class's recall; rows for a parallel-coordinates view.
  router.get("/:id/analysis", viewer, async (req, res) => {
    const sweep = await deps.prisma.sweep.findUnique({
      where: { id: pathParam(req, "id") },
      select: { id: true },
    });
    if (!sweep) throw new HttpError(404, `sweep ${pathParam(req, "id")} not found`);
    res.json(await analyseSweep(deps.prisma, sweep.id));
  });

  // The data set versions the sweep's runs trained on; `changed` when one data set changed between runs.
  router.get("/:id/datasets", viewer, async (req, res) => {
    const sweep = await deps.prisma.sweep.findUnique({
      where: { id: pathParam(req, "id") },
      select: { id: true },
    });
    if (!sweep) throw new HttpError(404, `sweep ${pathParam(req, "id")} not found`);
    res.json(await sweepDatasets(deps.sql, sweep.id));
  });

  // The comparison promote-best would be judged on: the sweep's best run against production.
  router.get("/:id/promotion-comparison", viewer, async (req, res) => {
    const level = queryLevel(req);
    const sweep = await deps.prisma.sweep.findUnique({
      where: { id: pathParam(req, "id") },
      select: { task: true },
    });
    if (!sweep) throw new HttpError(404, `sweep ${pathParam(req, "id")} not found`);
    const best = await bestRunOfSweep(deps.prisma, pathParam(req, "id"));
    if (!best)
      throw new HttpError(
        409,
        `sweep ${pathParam(req, "id")} has no succeeded run with a test F1 and a best checkpoint`,
      );
    res.json(await compareWithProduction(deps.prisma, sweep.task, best, level));
  });

  return router;
}
