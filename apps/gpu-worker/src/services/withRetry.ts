/**
 * Retries a database write with exponential backoff, for as long as it takes (or `maxAttempts`):
 * results computed by a training run must survive a database outage.
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  opts: {
    maxAttempts?: number;
    baseMs?: number;
    maxMs?: number;
    onRetry?: (err: Error, attempt: number, delayMs: number) => void;
  } = {},
): Promise<T> {
  const { maxAttempts = Number.POSITIVE_INFINITY, baseMs = 250, maxMs = 10_000 } = opts;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= maxAttempts || !isTransient(err)) throw err;
      const delay = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
      opts.onRetry?.(err as Error, attempt, delay);
      await new Promise((r) => setTimeout(r, delay));
      void what;
    }
  }
}

/** Connection-level failures are worth retrying; a constraint or syntax error is not. */
export function isTransient(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? "";
  if (
    [
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "EPIPE",
      "ENOTFOUND",
      "CONNECTION_CLOSED",
      "CONNECTION_ENDED",
      "CONNECTION_DESTROYED",
      "CONNECT_TIMEOUT",
    ].includes(code)
  ) {
    return true;
  }
  // Postgres: 08xxx connection exceptions, 57P01-03 admin shutdown / cannot connect now, 53300 too many connections.
  if (/^08/.test(code) || ["57P01", "57P02", "57P03", "53300", "40001", "40P01"].includes(code)) return true;
  return /connect|terminat|closed|timeout/i.test(e?.message ?? "");
}
