import type { Promotion } from "@xnn/shared/records";
import type { Request, Response } from "express";
import {
  ComparisonInputError,
  describeComparison,
  type PromotionComparison,
  parsePromotionLevel,
} from "../../services/promotion/compareWithProduction";
import {
  PromotionError,
  type PromotionGuard,
  PromotionNotBetterError,
  type PromotionResult,
} from "../../services/promotion/promoteRun";
import { HttpError } from "../httpError";

const MAX_REASON = 400;

/**
 * Reads `{ level?, override?, reason? }` from a promote request's body (an empty body is fine:
 * level 0.05, no override). An override must come with a reason, which is what the audit keeps.
 */
export function parsePromotionGuard(req: Request): PromotionGuard {
  const body: unknown = req.body ?? {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'request body must be a JSON object like { override: true, reason: "..." }');
  }
  const { level, override, reason } = body as Record<string, unknown>;
  if (override !== undefined && typeof override !== "boolean") {
    throw new HttpError(400, `override must be true or false; got ${JSON.stringify(override)}`);
  }
  if (reason !== undefined && typeof reason !== "string") {
    throw new HttpError(400, `reason must be a string; got ${JSON.stringify(reason)}`);
  }
  let parsedLevel: number;
  try {
    parsedLevel = parsePromotionLevel(level);
  } catch (err) {
    if (err instanceof ComparisonInputError) throw new HttpError(400, err.message);
    throw err;
  }
  if (!override) return { level: parsedLevel };
  const why = (reason ?? "").trim();
  if (why === "")
    throw new HttpError(400, "override needs a reason: say why this model goes to production anyway");
  if (why.length > MAX_REASON) throw new HttpError(400, `reason is longer than ${MAX_REASON} characters`);
  return { level: parsedLevel, override: { reason: why } };
}

/** The `?level=` of a comparison request. */
export function queryLevel(req: Request): number {
  try {
    return parsePromotionLevel(req.query.level);
  } catch (err) {
    if (err instanceof ComparisonInputError) throw new HttpError(400, err.message);
    throw err;
  }
}

/** What the audit row of a promotion keeps: the numbers it was judged on, and the override if one was used. */
function noteForAudit(
  res: Response,
  comparison: PromotionComparison | null,
  guard: PromotionGuard,
  overridden: boolean,
) {
  if (!comparison || comparison.status === "no-production" || comparison.status === "same-run") return;
  res.locals.auditDetails = {
    comparison,
    override: overridden ? { reason: guard.override?.reason ?? "" } : null,
  };
  if (overridden) {
    res.locals.auditMessage = `override (reason: ${guard.override?.reason ?? ""}): ${describeComparison(comparison)}`;
  }
}

/**
 * Shared by both promote routes: 200 with the outcome, 404/409 for promotions that cannot happen,
 * and 409 with the comparison when the candidate is not better than production and no override came.
 */
export async function sendPromotion(
  res: Response,
  guard: PromotionGuard,
  promote: (guard: PromotionGuard) => Promise<PromotionResult>,
): Promise<void> {
  try {
    const result = await promote(guard);
    noteForAudit(res, result.comparison, guard, result.overridden);
    res.json({ id: result.versionId, ...result } satisfies Promotion);
  } catch (err) {
    if (err instanceof PromotionNotBetterError) {
      noteForAudit(res, err.comparison, guard, false);
      throw new HttpError(409, err.message, { comparison: err.comparison });
    }
    if (err instanceof PromotionError) throw new HttpError(err.code === "not-found" ? 404 : 409, err.message);
    throw err;
  }
}
