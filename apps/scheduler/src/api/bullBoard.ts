import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Queue } from "bullmq";
import { type NextFunction, type Request, type Response, Router } from "express";
import { ADMIN_COOKIE, queryToken, requireRole } from "./auth";
import type { ApiDeps } from "./deps";

export const BULL_BOARD_PATH = "/admin/queues";

/**
 * bull-board for admins. A browser cannot add an Authorization header to a page load, so
 * `/admin/queues?token=...` stores the token in an HttpOnly cookie scoped to this path and
 * redirects to the clean URL (keeping the token out of history and logs from then on).
 */
export function bullBoardRouter(deps: ApiDeps, queue: Queue): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  // @bull-board/express pins a patch release of @bull-board/api older than ours; the adapter
  // interface is the same, only the private members' declarations differ.
  createBullBoard({
    queues: [new BullMQAdapter(queue)],
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]["serverAdapter"],
  });

  const router = Router();
  router.use((req: Request, res: Response, next: NextFunction) => {
    const token = queryToken(req);
    if (!token) return next();
    res.cookie(ADMIN_COOKIE, token, {
      httpOnly: true,
      sameSite: "strict",
      path: BULL_BOARD_PATH,
      secure: req.secure,
    });
    res.redirect(303, `${req.baseUrl}${req.path === "/" ? "" : req.path}` || BULL_BOARD_PATH);
  });
  router.use(requireRole(deps, "admin", { sources: ["cookie"] }), serverAdapter.getRouter());
  return router;
}
