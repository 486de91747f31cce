import type { PrismaClient } from "@xnn/db";
import type { Queue } from "bullmq";
import type { NextFunction, Request, Response } from "express";
import { Gauge, Histogram, Registry } from "prom-client";

const JOB_STATES = [
  "waiting",
  "waiting-children",
  "active",
  "delayed",
  "completed",
  "failed",
  "prioritized",
] as const;

/**
 * A registry per server (not prom-client's global one), so tests can build several servers in one
 * process. Queue and run gauges are read at scrape time: they are never stale and cost nothing idle.
 */
export function createMetrics(deps: { prisma: PrismaClient; queue: Queue }) {
  const registry = new Registry();
  const httpDuration = new Histogram({
    name: "xnn_http_request_duration_seconds",
    help: "HTTP request duration by route pattern",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({
    name: "xnn_queue_jobs",
    help: "Jobs in the runs queue by state",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      const counts = await deps.queue.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  new Gauge({
    name: "xnn_runs",
    help: "Runs by status",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const groups = await deps.prisma.run.groupBy({ by: ["status"], _count: { _all: true } });
      for (const g of groups) this.set({ status: g.status }, g._count._all);
    },
  });

  /** Labels by route pattern (`/api/runs/:id`), not by URL, to keep the label set small. */
  function observe(req: Request, res: Response, next: NextFunction) {
    const end = httpDuration.startTimer({ method: req.method });
    res.on("finish", () => {
      const pattern = req.route?.path;
      const route = pattern ? `${req.baseUrl}${pattern === "/" ? "" : pattern}` || "/" : "unmatched";
      end({ route, status: String(res.statusCode) });
    });
    next();
  }

  async function handler(_req: Request, res: Response) {
    res.setHeader("Content-Type", registry.contentType);
    res.send(await registry.metrics());
  }

  return { registry, observe, handler };
}
