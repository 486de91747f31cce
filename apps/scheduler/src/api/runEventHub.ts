import type { Sql } from "@xnn/db";
import type { Logger } from "@xnn/shared";

/** The channel the Run trigger (and workers) NOTIFY with a run id as payload. */
export const RUNS_CHANNEL = "xnn_runs";

type Listener = (runIds: string[]) => void;

/**
 * One LISTEN connection for all SSE clients, opened on the first subscriber. Notifications are
 * batched for `flushMs` so a sweep cancelled at once (hundreds of updates) becomes one event per
 * client, not hundreds.
 */
export class RunEventHub {
  private listeners = new Set<Listener>();
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private listening: Promise<{ unlisten: () => Promise<void> }> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
    private readonly flushMs = 200,
  ) {}

  /** Resolves once LISTEN is active, so a caller knows no later change can be missed. */
  async subscribe(listener: Listener): Promise<() => void> {
    this.listeners.add(listener);
    this.listening ??= this.sql.listen(RUNS_CHANNEL, (payload) => this.onNotify(payload));
    try {
      await this.listening;
    } catch (err) {
      this.listeners.delete(listener);
      this.listening = null;
      throw err;
    }
    return () => {
      this.listeners.delete(listener);
    };
  }

  private onNotify(payload: string): void {
    if (payload) this.pending.add(payload);
    this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  private flush(): void {
    this.timer = null;
    const ids = [...this.pending];
    this.pending.clear();
    for (const listener of this.listeners) {
      try {
        listener(ids);
      } catch (err) {
        this.logger.warn({ err }, "run event listener failed");
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
    const listening = this.listening;
    this.listening = null;
    if (listening) await (await listening.catch(() => null))?.unlisten().catch(() => {});
  }
}
