import { Router } from "express";
import { requireRole } from "../auth";
import type { ApiDeps } from "../deps";
import type { RunEventHub } from "../runEventHub";

const HEARTBEAT_MS = 15_000;

/**
 * Server-sent events: `event: runs` with `{"ids": [...]}` whenever runs change. Proxies drop idle
 * connections, hence the comment heartbeat; the token may come as ?token= because EventSource
 * cannot set headers.
 */
export function eventsRouter(deps: ApiDeps, hub: RunEventHub): Router {
  const router = Router();
  router.get("/", requireRole(deps, "viewer", { sources: ["query"] }), async (req, res) => {
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache, no-transform",
      Connection: "keep-alive",
      // Stops nginx from buffering the stream.
      "X-Accel-Buffering": "no",
    });
    res.write("retry: 3000\n\n");
    let unsubscribe: (() => void) | null = null;
    const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), HEARTBEAT_MS);
    const stop = () => {
      clearInterval(heartbeat);
      unsubscribe?.();
    };
    req.on("close", stop);
    try {
      unsubscribe = await hub.subscribe((ids) => {
        res.write(`event: runs\ndata: ${JSON.stringify({ ids })}\n\n`);
      });
      if (req.destroyed) unsubscribe();
      // Tells the client LISTEN is active: from here on no change is missed.
      else res.write(`event: ready\ndata: {}\n\n`);
    } catch (err) {
      deps.logger.error({ err }, "cannot LISTEN for run events");
      res.write(`event: error\ndata: ${JSON.stringify({ error: "live updates unavailable" })}\n\n`);
      stop();
      res.end();
    }
  });
  return router;
}
