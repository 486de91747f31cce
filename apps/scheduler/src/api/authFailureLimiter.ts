/**
 * Counts failed token checks per client address and blocks an address that fails too often, the way
 * nginx's limit_req refuses a client over its rate. Kept in memory: each API process counts on its
 * own, so N processes behind a balancer allow up to N times the limit, and a restart forgets.
 *
 * While an address is blocked every request from it that needs a token is refused with 429 before
 * the token is looked up, a valid one included: answering a good token normally would tell a
 * guesser which of its guesses was right, which is what the block is there to stop.
 */
export interface AuthFailureLimiterOptions {
  /** Failures allowed per window; the next one blocks the address. */
  maxFailures: number;
  windowMs: number;
  /** How long a blocked address stays blocked after its last failure. */
  blockMs: number;
  /** Addresses tracked at most; the least recently failing are forgotten first. */
  maxAddresses: number;
  now: () => number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimiterOptions = {
  maxFailures: 20,
  windowMs: 60_000,
  blockMs: 60_000,
  maxAddresses: 10_000,
  now: Date.now,
};

interface Entry {
  failures: number[];
  blockedUntil: number;
}

export class AuthFailureLimiter {
  private readonly options: AuthFailureLimiterOptions;
  // A Map iterates in insertion order; re-inserting on each failure keeps it least-recent first.
  private readonly entries = new Map<string, Entry>();

  constructor(options: Partial<AuthFailureLimiterOptions> = {}) {
    this.options = { ...DEFAULT_AUTH_FAILURE_LIMIT, ...options };
  }

  /** Seconds until `address` may try again, or 0 when it is not blocked. */
  retryAfterSeconds(address: string): number {
    const entry = this.entries.get(address);
    if (!entry) return 0;
    const left = entry.blockedUntil - this.options.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Records one failed token check; returns the seconds to wait when this failure blocked it. */
  recordFailure(address: string): number {
    const now = this.options.now();
    const entry = this.entries.get(address) ?? { failures: [], blockedUntil: 0 };
    entry.failures = entry.failures.filter((t) => t > now - this.options.windowMs);
    entry.failures.push(now);
    if (entry.failures.length > this.options.maxFailures) entry.blockedUntil = now + this.options.blockMs;
    this.entries.delete(address);
    this.entries.set(address, entry);
    while (this.entries.size > this.options.maxAddresses) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return this.retryAfterSeconds(address);
  }
}
