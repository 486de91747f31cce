import type { NextFunction, Request, RequestHandler, Response } from "express";
import { findTokenSql, type Role, roleAtLeast, type TokenIdentity } from "../services/auth/tokens";
import type { ApiDeps } from "./deps";

export const ADMIN_COOKIE = "xnn_token";

export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

export function cookieToken(req: Request): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === ADMIN_COOKIE) return decodeURIComponent(value.join("="));
  }
  return undefined;
}

export function queryToken(req: Request): string | undefined {
  const t = req.query.token;
  return typeof t === "string" && t !== "" ? t : undefined;
}

export function identityOf(res: Response): TokenIdentity {
  const identity = res.locals.identity as TokenIdentity | undefined;
  if (!identity) throw new Error("identityOf() used on a route without requireRole()");
  return identity;
}

export interface RequireRoleOptions {
  /** Also read the token from `?token=` (EventSource cannot send headers) or the admin cookie. */
  sources?: ("query" | "cookie")[];
}

/** The address failed token checks are counted against (the socket's peer; see README). */
export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? "unknown";
}

function tooManyFailures(res: Response, retryAfter: number): void {
  res
    .status(429)
    .set("Retry-After", String(retryAfter))
    .json({
      error: `too many failed token checks from this address; try again in ${retryAfter} s`,
      retryAfter,
    });
}

/**
 * 401 without a known token, 403 when the token's role is weaker than `role`, 429 while the
 * client's address is blocked for failing token checks too often (see AuthFailureLimiter).
 */
export function requireRole(deps: ApiDeps, role: Role, options: RequireRoleOptions = {}): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const sources = options.sources ?? [];
    const token =
      bearerToken(req) ??
      (sources.includes("query") ? queryToken(req) : undefined) ??
      (sources.includes("cookie") ? cookieToken(req) : undefined);
    if (!token) {
      res.status(401).json({ error: "missing token: send Authorization: Bearer <token>" });
      return;
    }
    const address = clientAddress(req);
    const blocked = deps.authLimiter?.retryAfterSeconds(address) ?? 0;
    if (blocked > 0) {
      tooManyFailures(res, blocked);
      return;
    }
    const identity = await findTokenSql(deps.sql, token);
    if (!identity) {
      const retryAfter = deps.authLimiter?.recordFailure(address) ?? 0;
      if (retryAfter > 0) {
        deps.logger.warn({ address }, "blocking an address after repeated failed token checks");
        tooManyFailures(res, retryAfter);
        return;
      }
      res.status(401).json({ error: "unknown or revoked token" });
      return;
    }
    // Known before the role check, so a refused attempt is still attributed (see audited()).
    res.locals.caller = identity;
    if (!roleAtLeast(identity.role, role)) {
      res.status(403).json({ error: `this needs the ${role} role; your token has ${identity.role}` });
      return;
    }
    res.locals.identity = identity;
    next();
  };
}
