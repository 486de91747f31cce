import { Router } from "express";
import { AUDIT_ACTIONS, AUDIT_OUTCOMES } from "../../services/auth/auditEvents";
import { requireRole } from "../auth";
import type { ApiDeps } from "../deps";
import { HttpError } from "../httpError";
import { filterValues, parseListQuery, sendList } from "../simpleRest";

const SORTABLE = ["id", "createdAt", "actor", "action", "outcome", "status", "targetId"] as const;
const FILTERS = ["actor", "action", "outcome", "targetId"] as const;

function allowed(values: string[] | undefined, options: readonly string[], what: string) {
  for (const v of values ?? []) {
    if (!options.includes(v)) throw new HttpError(400, `unknown ${what} ${v}; one of ${options.join(", ")}`);
  }
  return values;
}

/** GET /api/audit (admin): the AuditEvent trail, newest first, in ra-data-simple-rest's dialect. */
export function auditRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get("/", requireRole(deps, "admin"), async (req, res) => {
    const q = parseListQuery(req, {
      sortable: SORTABLE,
      defaultSort: { field: "createdAt", order: "desc" },
      filters: FILTERS,
    });
    const action = allowed(filterValues(q.filter, "action"), AUDIT_ACTIONS, "action");
    const outcome = allowed(filterValues(q.filter, "outcome"), AUDIT_OUTCOMES, "outcome");
    const actor = filterValues(q.filter, "actor");
    const targetId = filterValues(q.filter, "targetId");
    const where = {
      ...(q.ids ? { id: { in: q.ids } } : {}),
      ...(action ? { action: { in: action } } : {}),
      ...(outcome ? { outcome: { in: outcome } } : {}),
      ...(actor ? { actor: { in: actor } } : {}),
      ...(targetId ? { targetId: { in: targetId } } : {}),
    };
    const [rows, total] = await Promise.all([
      deps.prisma.auditEvent.findMany({
        where,
        orderBy: [{ [q.sort.field]: q.sort.order }, { id: "asc" }],
        skip: q.range.start,
        take: q.range.end - q.range.start + 1,
      }),
      deps.prisma.auditEvent.count({ where }),
    ]);
    sendList(res, "audit", q, rows, total);
  });
  return router;
}
