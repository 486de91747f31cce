import { createLogger } from "@xnn/shared";
import { parseWorkerEnv } from "../env";
import { installShutdown } from "../shutdown";
import { startWorker } from "../startWorker";
import { noopTrainer } from "./noopTrainer";

// A worker process whose jobs run on the no-op trainer: `pnpm bench queue` spawns these
// (spawnWorker(env, { trainer: "noop" })) to measure the queue and the database writes alone.
const env = parseWorkerEnv();
const logger = createLogger("gpu-worker", env.XNN_LOG_LEVEL);
const worker = await startWorker(env, { trainer: noopTrainer });
installShutdown(() => worker.close(), {
  timeoutMs: env.XNN_SHUTDOWN_TIMEOUT_MS,
  log: (msg) => logger.info(msg),
});
