import type { NextFunction, Request, RequestHandler, Response } from "express";
import { type AuditAction, type AuditOutcome, recordAuditEvent } from "../services/auth/auditEvents";
import type { TokenIdentity } from "../services/auth/tokens";
import { clientAddress } from "./auth";
import type { ApiDeps } from "./deps";

export function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return "ok";
  if (status === 401 || status === 403 || status === 429) return "denied";
  return status < 500 ? "rejected" : "error";
}

/**
 * Where the acted-on id is: a path parameter (read when the route matches, since express resets
 * req.params when an error leaves the route) or the `id` of the answer (a sweep or token created).
 */
export type AuditTarget = { param: string } | "answer";

/**
 * Records the request as an AuditEvent once its answer is known, whatever the answer: put it before
 * requireRole, so a token with too weak a role is recorded too. The row is written before the
 * answer is released to the client, so whoever sees the answer can also find its audit row. A
 * request without a valid token has nobody to attribute it to and is not recorded (failed token
 * checks are counted by AuthFailureLimiter instead).
 */
export function audited(deps: ApiDeps, action: AuditAction, target: AuditTarget): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const paramTarget = typeof target === "object" ? req.params[target.param] : undefined;
    let answer: unknown;
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      answer = body;
      return json(body);
    };
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    let recorded = false;
    res.end = ((...args: unknown[]) => {
      if (recorded) return end(...args);
      recorded = true;
      const identity = (res.locals.identity ?? res.locals.caller) as TokenIdentity | undefined;
      if (!identity) return end(...args);
      const status = res.statusCode;
      const body = (answer ?? {}) as { id?: unknown; error?: unknown };
      const targetId =
        typeof paramTarget === "string"
          ? paramTarget
          : target === "answer" && typeof body.id === "string"
            ? body.id
            : null;
      recordAuditEvent(deps.prisma, {
        actor: identity.name,
        actorRole: identity.role,
        tokenId: identity.id,
        action,
        targetId,
        outcome: outcomeOf(status),
        status,
        // A route may note what an accepted action was decided on (res.locals.auditMessage/auditDetails).
        message:
          status >= 400 && typeof body.error === "string"
            ? body.error
            : typeof res.locals.auditMessage === "string"
              ? res.locals.auditMessage
              : null,
        ip: clientAddress(req),
        details: res.locals.auditDetails ?? null,
      })
        .catch((err: unknown) =>
          // The change (if any) has happened and cannot be undone here; the log keeps the trail.
          deps.logger.error(
            { err, action, actor: identity.name, targetId, status },
            "could not write the audit event",
          ),
        )
        .finally(() => end(...args));
      return res;
    }) as Response["end"];
    next();
  };
}
