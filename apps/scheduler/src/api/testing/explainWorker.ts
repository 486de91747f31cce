import { randomUUID } from "node:crypto";
import type { ArtifactStore } from "@xnn/artifacts";
import { testRedisUrl } from "@xnn/db/testing";
import { type RunningExplainWorker, startExplainWorker } from "@xnn/serving";
import { createLogger, createRedis } from "@xnn/shared";
import type { Harness } from "./harness";

export interface TestExplainWorker {
  id: string;
  worker: RunningExplainWorker;
  /** Stops serving and marks its row gone, as a worker's shutdown does. */
  close(): Promise<void>;
}

/**
 * What a `pnpm worker` process does for explanations, in this process: a heartbeat row that says
 * it serves them, and the explain queue's BullMQ worker with its own thread (IG never runs on the
 * test's event loop, which is also the API's).
 */
export async function startTestExplainWorker(
  h: Harness,
  prefix: string,
  artifacts: ArtifactStore,
  options: { maxModelBytes?: number } = {},
): Promise<TestExplainWorker> {
  const id = `explain-test-${randomUUID().slice(0, 8)}`;
  const redis = createRedis(testRedisUrl(), "worker");
  const worker = await startExplainWorker({
    redis,
    prefix,
    artifacts,
    workerId: id,
    backend: "auto",
    maxModelBytes: options.maxModelBytes,
    logger: createLogger("explain-test", "silent"),
  });
  await h.prisma.worker.create({
    data: {
      id,
      host: "test",
      pid: process.pid,
      gpus: [],
      backend: worker.backend,
      version: "test",
      explains: true,
    },
  });
  const heartbeat = setInterval(() => {
    void h.prisma.worker
      .update({ where: { id }, data: { lastHeartbeat: new Date() } })
      .catch(() => undefined);
  }, 5_000);
  heartbeat.unref();
  return {
    id,
    worker,
    async close() {
      clearInterval(heartbeat);
      await worker.close();
      await h.prisma.worker.update({ where: { id }, data: { status: "gone", stoppedAt: new Date() } });
      redis.disconnect();
    },
  };
}
