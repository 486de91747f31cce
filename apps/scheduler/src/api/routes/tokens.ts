import { Router } from "express";
import { isRole, issueToken, ROLES, revokeToken } from "../../services/auth/tokens";
import { audited } from "../audited";
import { identityOf, requireRole } from "../auth";
import type { ApiDeps } from "../deps";
import { HttpError } from "../httpError";
import { pathParam } from "../params";
import { parseListQuery, sendList } from "../simpleRest";

export function meRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/", requireRole(deps, "viewer"), (_req, res) => {
    const { role, name } = identityOf(res);
    res.json({ role, name });
  });
  return router;
}

/** Token management (admin): list, issue (plaintext returned once), revoke. Hashes never leave. */
export function tokensRouter(deps: ApiDeps): Router {
  const router = Router();
  const admin = requireRole(deps, "admin");

  router.get("/", admin, async (req, res) => {
    const q = parseListQuery(req, {
      sortable: ["id", "name", "role", "createdAt"] as const,
      defaultSort: { field: "createdAt", order: "desc" },
      filters: [],
    });
    const where = q.ids ? { id: { in: q.ids } } : {};
    const [rows, total] = await Promise.all([
      deps.prisma.apiToken.findMany({
        where,
        orderBy: [{ [q.sort.field]: q.sort.order }, { id: "asc" }],
        skip: q.range.start,
        take: q.range.end - q.range.start + 1,
        select: { id: true, name: true, role: true, createdAt: true, revokedAt: true },
      }),
      deps.prisma.apiToken.count({ where }),
    ]);
    sendList(res, "tokens", q, rows, total);
  });

  router.post("/", audited(deps, "token.create", "answer"), admin, async (req, res) => {
    const { role, name } = (req.body ?? {}) as { role?: unknown; name?: unknown };
    if (!isRole(role)) throw new HttpError(400, `role must be one of ${ROLES.join(", ")}`);
    if (typeof name !== "string" || name.trim() === "" || name.length > 100) {
      throw new HttpError(400, "name must be a non-empty string of at most 100 characters");
    }
    const { id, token } = await issueToken(deps.prisma, role, name.trim());
    res.status(201).json({ id, role, name: name.trim(), token });
  });

  router.delete("/:id", audited(deps, "token.revoke", { param: "id" }), admin, async (req, res) => {
    if (pathParam(req, "id") === identityOf(res).id) {
      throw new HttpError(409, "refusing to revoke the token this request uses");
    }
    if (!(await revokeToken(deps.prisma, pathParam(req, "id")))) {
      throw new HttpError(404, `token ${pathParam(req, "id")} not found or already revoked`);
    }
    res.json({ id: pathParam(req, "id"), revoked: true });
  });
  return router;
}
