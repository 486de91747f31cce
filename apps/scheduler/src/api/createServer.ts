import { ExplainClient } from "@xnn/serving";
import { RUNS_QUEUE } from "@xnn/shared";
import { FlowProducer, Queue } from "bullmq";
import cors from "cors";
import express, { type Express } from "express";
import { pinoHttp } from "pino-http";
import { PredictService } from "../services/serving/predict";
import { AuthFailureLimiter } from "./authFailureLimiter";
import { BULL_BOARD_PATH, bullBoardRouter } from "./bullBoard";
import { dashboardHandler } from "./dashboardHandler";
import type { ApiDeps } from "./deps";
import { errorHandler } from "./errorHandler";
import { gzipJson } from "./gzipJson";
import { healthHandler } from "./health";
import { createMetrics } from "./metrics";
import { auditRouter } from "./routes/audit";
import { compareRouter } from "./routes/compare";
import { datasetsRouter, datasetVersionsRouter } from "./routes/datasets";
import { eventsRouter } from "./routes/events";
import { modelVersionsRouter, productionRouter } from "./routes/modelVersions";
import { predictRouter } from "./routes/predict";
import { runCheckpointRouter } from "./routes/runCheckpoint";
import { runsRouter } from "./routes/runs";
import { sweepsRouter } from "./routes/sweeps";
import { meRouter, tokensRouter } from "./routes/tokens";
import { workersRouter } from "./routes/workers";
import { RunEventHub } from "./runEventHub";

export const BODY_LIMIT = "1mb";
/** How long POST /api/predict waits for a worker's explanation before answering 504. */
export const DEFAULT_EXPLAIN_TIMEOUT_MS = 60_000;

export type ApiServer = Express & {
  /** Closes what the server opened itself (queue handles, LISTEN); the caller owns deps. */
  closeResources(): Promise<void>;
};

/** The HTTP API as an express app, not yet listening, so tests can drive it with supertest. */
export function createServer(given: ApiDeps): ApiServer {
  const deps: ApiDeps = { ...given, authLimiter: given.authLimiter ?? new AuthFailureLimiter() };
  const queue = new Queue(RUNS_QUEUE, { connection: deps.redis, prefix: deps.prefix });
  const flows = new FlowProducer({ connection: deps.redis, prefix: deps.prefix });
  // Without a listener a Redis outage would surface as an unhandled 'error' event.
  queue.on("error", (err) => deps.logger.warn({ err }, "queue connection error"));
  flows.on("error", (err) => deps.logger.warn({ err }, "flow producer connection error"));
  const hub = new RunEventHub(deps.sql, deps.logger);
  const metrics = createMetrics({ prisma: deps.prisma, queue });
  const explainer = new ExplainClient({
    redis: deps.redis,
    prefix: deps.prefix,
    timeoutMs: deps.explainTimeoutMs ?? DEFAULT_EXPLAIN_TIMEOUT_MS,
    servingWorkers: PredictService.servingWorkers(deps.prisma),
  });
  const predict = new PredictService(deps.prisma, deps.logger, explainer);

  const app = express();
  app.disable("x-powered-by");
  app.use(
    pinoHttp({
      logger: deps.logger,
      autoLogging: { ignore: (req) => req.url === "/healthz" || req.url === "/metrics" },
      // Tokens travel in headers and, for EventSource and bull-board, in the query string.
      redact: ["req.headers.authorization", "req.headers.cookie", "req.query.token"],
      serializers: {
        req: (req) => ({ ...req, url: String(req.url).replace(/([?&]token=)[^&]*/g, "$1***") }),
      },
    }),
  );
  app.use(metrics.observe);
  app.use(cors({ exposedHeaders: ["Content-Range"], maxAge: 600 }));

  app.get("/healthz", healthHandler(deps));
  app.get("/metrics", metrics.handler);
  app.use(BULL_BOARD_PATH, bullBoardRouter(deps, queue));

  const api = express.Router();
  api.use(gzipJson());
  api.use(express.json({ limit: BODY_LIMIT }));
  api.use(express.text({ limit: BODY_LIMIT, type: ["text/*", "application/yaml", "application/x-yaml"] }));
  api.use("/me", meRouter(deps));
  api.use("/tokens", tokensRouter(deps));
  api.use("/sweeps", sweepsRouter(deps, { queue, flows }));
  api.use("/runs", runCheckpointRouter(deps));
  api.use("/runs", runsRouter(deps));
  api.use("/compare", compareRouter(deps));
  api.use("/datasets", datasetsRouter(deps));
  api.use("/dataset-versions", datasetVersionsRouter(deps, predict));
  api.use("/model-versions", modelVersionsRouter(deps));
  api.use("/production", productionRouter(deps));
  api.use("/predict", predictRouter(deps, predict));
  api.use("/workers", workersRouter(deps));
  api.use("/events", eventsRouter(deps, hub));
  api.use("/audit", auditRouter(deps));
  api.use((req, res) => {
    res.status(404).json({ error: `no route ${req.method} ${req.baseUrl}${req.path}` });
  });
  app.use("/api", api);
  if (deps.dashboardDir) {
    // Same origin as the API, so the dashboard needs no API URL and no CORS.
    const dashboard = dashboardHandler(deps.dashboardDir);
    app.use((req, res) => dashboard(req, res));
  }
  app.use(errorHandler(deps.logger));

  return Object.assign(app, {
    async closeResources() {
      await hub.close();
      await Promise.allSettled([queue.close(), flows.close(), explainer.close()]);
    },
  });
}
