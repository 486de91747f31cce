import { ArtifactIntegrityError, ArtifactNotFoundError } from "@xnn/artifacts";
import type { RunJobPayload } from "@xnn/shared";
import { UnrecoverableError } from "bullmq";
import type { RunContext } from "./runTrainingJob";
import { withRetry } from "./withRetry";

/** A corrupt or missing stored artifact fails the run, naming it; nothing trains from it. */
export async function failOnBadArtifact<T>(
  ctx: RunContext,
  payload: RunJobPayload,
  what: string,
  read: () => Promise<T>,
): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof ArtifactIntegrityError || err instanceof ArtifactNotFoundError)) throw err;
    const reason = `${what}: ${err.message}`;
    await withRetry("mark failed", () =>
      ctx.store.markEnded(payload.runId, payload.sweepId, "failed", reason),
    );
    throw new UnrecoverableError(reason);
  }
}
