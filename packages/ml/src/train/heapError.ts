import { describeMemoryLimit } from "../backend/initBackend.js";

/**
 * tfjs-backend-wasm 4.22 built without exceptions: when its 4 GiB heap is full, the allocation in
 * `register_tensor` (its tensor registry) fails and the next instruction traps as an integer
 * "divide by zero" (measured: MobileNetV2 FT at 224 px, batch 32 in one pass, needs ~7 GiB; 16
 * images peak at 3.7 GiB and run). A trap with that message raised from there is heap exhaustion.
 */
function isWasmRegistryTrap(err: unknown): boolean {
  return (
    err instanceof Error &&
    /divide by zero/i.test(err.message) &&
    /register_tensor|BackendWasm\.(move|write|makeOutput)/.test(err.stack ?? "")
  );
}

export function isHeapError(err: unknown): boolean {
  if (isWasmRegistryTrap(err)) return true;
  const msg = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  return /out of memory|OOM|ResourceExhausted|Cannot enlarge memory|Aborted\(|memory access out of bounds|RangeError: Array buffer allocation|allocation failed/i.test(
    msg,
  );
}

/**
 * The error to report for heap exhaustion: what ran out, and the sizes the user can lower. With
 * `microBatchSize` below `batchSize` the batch was already split, so the micro-batch is what did
 * not fit.
 */
export function heapError(
  err: unknown,
  batchSize: number,
  imageSize: number,
  what: string,
  microBatchSize?: number,
): Error {
  const cause = err instanceof Error ? err.message.split("\n")[0] : String(err);
  const px = `${imageSize}x${imageSize} px`;
  const sizes =
    microBatchSize !== undefined && microBatchSize < batchSize
      ? `a micro-batch of ${microBatchSize} images (batch ${batchSize}) at ${px} does not fit: lower train.microBatchSize or data.imageSize`
      : `a batch of ${batchSize} images at ${px} does not fit: lower train.batchSize, set train.microBatchSize, or lower data.imageSize`;
  return new Error(`${what}: ${describeMemoryLimit()}: ${sizes}. Cause: ${cause}`, { cause: err });
}

/** What to throw for an error raised while doing `what`: heap exhaustion is explained, anything else passes as is. */
export type HeapGuard = (what: string, err: unknown) => unknown;

/**
 * A HeapGuard for a run's batch size and image size (what the user can lower); `microBatchSize`
 * reads the micro-batch in force when the error happens (chosen after the guard is made).
 */
export function heapGuard(batchSize: number, imageSize: number, microBatchSize?: () => number): HeapGuard {
  return (what, err) =>
    isHeapError(err) ? heapError(err, batchSize, imageSize, what, microBatchSize?.()) : err;
}
