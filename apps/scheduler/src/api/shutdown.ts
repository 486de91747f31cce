import type { Server } from "node:http";
import type { Logger } from "@xnn/shared";

const DRAIN_MS = 5_000;

/**
 * First SIGINT/SIGTERM: stop accepting connections, give in-flight requests DRAIN_MS, then close
 * everything (`closeAll`) and exit. Event streams never end by themselves, so they are cut after the
 * drain. A second signal exits at once.
 */
export function installShutdown(server: Server, logger: Logger, closeAll: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "shutting down: draining requests");
    server.close();
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
    force.unref();
    void closeAll()
      .catch((err) => logger.error({ err }, "error while closing"))
      .finally(() => {
        server.closeAllConnections();
        process.exit(0);
      });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
