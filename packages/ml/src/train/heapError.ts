import { describeMemoryLimit } from "../backend/initBackend.js";

export function isHeapError(err: unknown): boolean {
  const msg = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  return /out of memory|OOM|ResourceExhausted|Cannot enlarge memory|Aborted\(|memory access out of bounds|RangeError: Array buffer allocation|allocation failed/i.test(
    msg,
  );
}

export function heapError(err: unknown, batchSize: number, imageSize: number, what: string): Error {
  const cause = err instanceof Error ? err.message.split("\n")[0] : String(err);
  return new Error(
    `${what}: ${describeMemoryLimit()}: a batch of ${batchSize} images at ${imageSize}x${imageSize} px ` +
      `does not fit: lower train.batchSize or data.imageSize. Cause: ${cause}`,
    { cause: err },
  );
}

/** What to throw for an error raised while doing `what`: heap exhaustion is explained, anything else passes as is. */
export type HeapGuard = (what: string, err: unknown) => unknown;

/** A HeapGuard for a run's batch size and image size (what the user can lower). */
export function heapGuard(batchSize: number, imageSize: number): HeapGuard {
  return (what, err) => (isHeapError(err) ? heapError(err, batchSize, imageSize, what) : err);
}
