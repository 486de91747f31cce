import type { Logger } from "@xnn/shared";
import type { NextFunction, Request, Response } from "express";
import { HttpError } from "./httpError";

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/**
 * Turns every error into a JSON answer. User errors keep their message; anything unexpected is
 * logged with its stack and answered with a generic 500, and the process keeps serving.
 */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      logger.error({ err, url: req.originalUrl }, "error after the response started");
      res.end();
      return;
    }
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: err.message, ...err.details });
      return;
    }
    const bp = err as BodyParserError;
    if (bp?.type === "entity.too.large") {
      res
        .status(413)
        .json({ error: `request body is larger than the ${Math.round((bp.limit ?? 0) / 1024)} kB limit` });
      return;
    }
    if (bp?.type === "entity.parse.failed") {
      res.status(400).json({ error: `request body is not valid JSON: ${(err as Error).message}` });
      return;
    }
    if (typeof bp?.status === "number" && bp.status >= 400 && bp.status < 500) {
      res.status(bp.status).json({ error: (err as Error).message });
      return;
    }
    logger.error({ err, method: req.method, url: req.originalUrl }, "request failed");
    res.status(500).json({ error: "internal error; see the API log" });
  };
}
