import type { EpochRecord, ResultsStore } from "./resultsStore";
import { withRetry } from "./withRetry";

/**
 * Epoch metrics wait here until Postgres has them. Training never waits for the database: a
 * background flush retries with backoff, and `drain()` at the end of the run blocks until every
 * epoch is written.
 */
export class EpochOutbox {
  private pending: EpochRecord[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly store: ResultsStore,
    private readonly runId: string,
    /** The attempt's lease: writes stop counting once another attempt owns the run. */
    private readonly token: string,
    private readonly onRetry: (err: Error, attempt: number) => void,
    /** Called once with an error no retry can fix (the lease was lost): training should stop. */
    private readonly onFatal: (err: Error) => void = () => {},
  ) {}

  push(...epochs: EpochRecord[]): void {
    this.pending.push(...epochs);
    this.kick();
  }

  private kick(): void {
    if (this.flushing || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.flushing = withRetry("epoch metrics", () => this.store.upsertEpochs(this.runId, batch, this.token), {
      onRetry: (err, attempt) => this.onRetry(err, attempt),
    })
      .catch((err) => {
        // Not transient (e.g. the run row is gone): keep the batch so drain() surfaces the error.
        this.pending = [...batch, ...this.pending];
        this.onFatal(err as Error);
        throw err;
      })
      .finally(() => {
        this.flushing = null;
      });
    this.flushing.then(() => this.kick()).catch(() => {});
  }

  async drain(): Promise<void> {
    while (this.flushing || this.pending.length > 0) {
      if (this.flushing) await this.flushing;
      else this.kick();
    }
  }
}
