import { z } from "zod";
import { timestampSchema } from "./common";

/** A worker in GET /api/workers. */
export const workerRowSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  /** Whatever the worker reported: a count, names, or objects with a name. */
  gpus: z.unknown(),
  /** The backend in use, resolved when the worker started (one of BACKEND_KINDS other than "auto"). */
  backend: z.string(),
  /** What the backend computes on ("GPU 0: <name>, <memory> MiB" or "CPU: <model>"); null for old rows. */
  device: z.string().nullable(),
  version: z.string(),
  status: z.string(),
  lastHeartbeat: timestampSchema,
  /** Computed by the server so a dashboard on a skewed clock still sees a stale worker as stale. */
  heartbeatAgeSec: z.number().int(),
  currentRunId: z.string().nullable(),
});
export type WorkerRow = z.infer<typeof workerRowSchema>;
