/**
 * Two-stage Ctrl-C for the demo: the first SIGINT/SIGTERM calls `graceful` (stop following the sweep,
 * stop every service in order); a second one calls `force` (SIGKILL what is left) and exits.
 */
export function installDemoShutdown(handlers: {
  graceful: (signal: NodeJS.Signals) => void;
  force: (signal: NodeJS.Signals) => void;
}): () => void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      handlers.graceful(signal);
      return;
    }
    handlers.force(signal);
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}
