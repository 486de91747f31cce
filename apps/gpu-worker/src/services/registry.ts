import { hostname } from "node:os";
import type { Sql } from "@xnn/db";
import type { GpuInfo } from "../gpus";

/** This process's row in the Worker table: who it is, that it is alive, and what it runs. */
export class WorkerRegistry {
  readonly id: string;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly info: { gpus: GpuInfo[]; backend: string; version: string },
  ) {
    this.id = `${hostname()}-${process.pid}-${Date.now().toString(36)}`;
  }

  async register(): Promise<void> {
    await this
      .sql`INSERT INTO "Worker" (id, host, pid, gpus, backend, version, status, "startedAt", "lastHeartbeat")
      VALUES (${this.id}, ${hostname()}, ${process.pid}, ${JSON.stringify(this.info.gpus)}::jsonb,
        ${this.info.backend}, ${this.info.version}, 'active', now(), now())`;
  }

  startHeartbeat(intervalMs: number, onError: (err: Error) => void): void {
    this.timer = setInterval(() => {
      this.sql`UPDATE "Worker" SET "lastHeartbeat" = now(), status = 'active' WHERE id = ${this.id}`.catch(
        onError,
      );
    }, intervalMs);
    this.timer.unref();
  }

  async setCurrentRun(runId: string | null): Promise<void> {
    await this
      .sql`UPDATE "Worker" SET "currentRunId" = ${runId}, "lastHeartbeat" = now() WHERE id = ${this.id}`;
  }

  async markGone(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this
      .sql`UPDATE "Worker" SET status = 'gone', "stoppedAt" = now(), "currentRunId" = NULL WHERE id = ${this.id}`;
  }
}
