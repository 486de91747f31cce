import { cpus, hostname } from "node:os";
import type { Sql } from "@xnn/db";
import type { GpuInfo } from "../gpus";

/** The device line the registry records: the visible GPUs for a GPU backend, else the CPU model. */
export function describeDevice(device: "gpu" | "cpu", visibleGpus: GpuInfo[]): string {
  if (device === "gpu" && visibleGpus.length > 0)
    return visibleGpus.map((g) => `GPU ${g.index}: ${g.name}, ${g.memoryMiB} MiB`).join("; ");
  if (device === "gpu") return "GPU (nvidia-smi unavailable)";
  return `CPU: ${cpus()[0]?.model.trim() ?? "unknown"}`;
}

/** This process's row in the Worker table: who it is, that it is alive, and what it runs. */
export class WorkerRegistry {
  readonly id: string;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly info: {
      gpus: GpuInfo[];
      /** The backend in use (tensorflow, wasm, cpu), not the one asked for. */
      backend: string;
      /** What it computes on, e.g. "GPU 0: NVIDIA A100-SXM4-80GB, 81920 MiB" or "CPU: <model>". */
      device: string;
      version: string;
      /** It serves the explain queue. */
      explains: boolean;
    },
  ) {
    this.id = `${hostname()}-${process.pid}-${Date.now().toString(36)}`;
  }

  async register(): Promise<void> {
    await this
      .sql`INSERT INTO "Worker" (id, host, pid, gpus, backend, device, version, explains, status, "startedAt", "lastHeartbeat")
      VALUES (${this.id}, ${hostname()}, ${process.pid}, ${JSON.stringify(this.info.gpus)}::jsonb,
        ${this.info.backend}, ${this.info.device}, ${this.info.version}, ${this.info.explains}, 'active', now(), now())`;
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
