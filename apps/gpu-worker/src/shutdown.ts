/**
 * Two-stage shutdown: the first SIGINT/SIGTERM drains (the current run stops at its next batch and
 * goes back to the queue), a second signal or the timeout forces the exit.
 */
export function installShutdown(
  close: () => Promise<void>,
  opts: { timeoutMs: number; log: (msg: string) => void },
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      opts.log(`${signal} again: forcing exit`);
      process.exit(130);
    }
    stopping = true;
    opts.log(`${signal}: finishing up (send it again to force)`);
    const timer = setTimeout(() => {
      opts.log(`shutdown took longer than ${opts.timeoutMs} ms: forcing exit`);
      process.exit(1);
    }, opts.timeoutMs);
    timer.unref();
    close().then(
      () => process.exit(0),
      (err) => {
        opts.log(`shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
