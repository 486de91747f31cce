import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ArtifactStore } from "@xnn/artifacts";
import type { PrunedCheckpoint } from "@xnn/db";
import { type Logger, type PruneSignal, pruneKey, pruneSignalSchema } from "@xnn/shared";
import type { Redis } from "ioredis";

/** How often a training run looks for a prune request between its epoch reports. */
export const PRUNE_POLL_MS = 1_000;

/** Where the trainer keeps a run's best checkpoint (packages/ml BEST_CHECKPOINT_DIR). */
const BEST_CHECKPOINT_DIR = "checkpoint";
/** The bytes a checkpoint's recorded sha256 covers (packages/ml saveCheckpoint). */
const CHECKPOINT_DIGEST_OF = ["model.json", "weights.bin"];

/** The prune request for a run, if the pruner made one; a value that does not parse still stops it. */
export async function readPruneSignal(redis: Redis, runId: string): Promise<PruneSignal | null> {
  const raw = await redis.get(pruneKey(runId));
  if (raw === null) return null;
  try {
    return pruneSignalSchema.parse(JSON.parse(raw));
  } catch {
    return { reason: "pruned by the sweep's early-termination rule", numbers: null };
  }
}

/**
 * Watches for a prune request while a run trains: on each epoch report (`check`) and every
 * PRUNE_POLL_MS between them, so a request that arrives mid-epoch is seen within a second; the run
 * then stops at the end of the epoch in progress. `onPrune` is called once.
 */
export function watchPruneSignal(
  redis: Redis,
  runId: string,
  onPrune: (signal: PruneSignal) => void,
): { check(): void; stop(): void } {
  let fired = false;
  let inFlight = false;
  const check = () => {
    if (fired || inFlight) return;
    inFlight = true;
    void readPruneSignal(redis, runId)
      .then((signal) => {
        if (signal && !fired) {
          fired = true;
          onPrune(signal);
        }
      })
      .catch(() => {}) // Redis away: the next check asks again.
      .finally(() => {
        inFlight = false;
      });
  };
  const timer = setInterval(check, PRUNE_POLL_MS);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}

/**
 * The best checkpoint of a run stopped by pruning, into the artifact store. The trainer saves it
 * whole before it reports the epoch, and a prune stops training only after the epoch in progress was
 * reported (a cancel or shutdown landing first stops between batches), so what is on disk is the
 * best of the reported epochs. Null when no epoch completed (or the trainer keeps none).
 */
export async function storePrunedCheckpoint(
  artifacts: ArtifactStore,
  runDir: string,
  runId: string,
  log: Logger,
): Promise<PrunedCheckpoint | null> {
  const dir = path.join(runDir, BEST_CHECKPOINT_DIR);
  let manifest: { sha256?: unknown };
  try {
    manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as { sha256?: unknown };
  } catch {
    return null;
  }
  const stored = await artifacts.putDir(dir, path.join("runs", runId, "checkpoint"), {
    digestOf: CHECKPOINT_DIGEST_OF,
  });
  if (stored.sha256 !== manifest.sha256) {
    log.warn(
      { stored: stored.sha256, manifest: manifest.sha256 },
      "pruned run's checkpoint does not match its manifest",
    );
    return null;
  }
  return { uri: stored.uri, sha256: stored.sha256, sizeBytes: stored.sizeBytes };
}
