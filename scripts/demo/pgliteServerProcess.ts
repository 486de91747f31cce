// Child-process entry that serves a PGlite data directory on a TCP port (see PgliteWireServer for why
// not pglite-server). Started by startPgliteServer; its output goes to .xnn/logs/pglite.log.
import { parseArgs } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { createLogger } from "@xnn/shared";
import { PgliteWireServer } from "./pgliteWireServer";

const logger = createLogger("pglite");
const { values } = parseArgs({
  options: {
    db: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    "max-connections": { type: "string", default: "32" },
  },
});
if (!values.db || !values.port) {
  logger.fatal("usage: pgliteServerProcess --db=DIR --port=N [--host=H] [--max-connections=N]");
  process.exit(2);
}

const started = Date.now();
const db = await PGlite.create(values.db);
logger.info({ dataDir: values.db, bootMs: Date.now() - started }, "PGlite ready");
const server = new PgliteWireServer(db, {
  maxConnections: Number(values["max-connections"]),
  log: (message) => logger.warn(message),
});
const port = await server.listen(Number(values.port), values.host);
logger.info({ host: values.host, port }, "serving PGlite over the Postgres wire protocol");

let stopping = false;
const stop = async (signal: NodeJS.Signals) => {
  if (stopping) {
    logger.warn({ signal }, "second signal: exiting without closing the database");
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal, ...server.stats() }, "closing clients and the database");
  await server.close();
  // Closing flushes PGlite's data to disk; skipping it risks a data directory that will not open.
  await db.close();
  logger.info("stopped");
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
