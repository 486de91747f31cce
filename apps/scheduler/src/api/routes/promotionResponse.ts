import type { Promotion } from "@xnn/shared/records";
import type { Response } from "express";
import { PromotionError, type PromotionResult } from "../../services/promotion/promoteRun";
import { HttpError } from "../httpError";

/** Shared by both promote routes: 200 with the outcome, 404/409 for promotions that cannot happen. */
export async function sendPromotion(res: Response, promote: () => Promise<PromotionResult>): Promise<void> {
  try {
    const result = await promote();
    res.json({ id: result.versionId, ...result } satisfies Promotion);
  } catch (err) {
    if (err instanceof PromotionError) throw new HttpError(err.code === "not-found" ? 404 : 409, err.message);
    throw err;
  }
}
