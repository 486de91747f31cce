import pino, { type Logger } from "pino";

/** Structured JSON logs on stderr, so stdout stays free for a command's own output. */
export function createLogger(name: string, level = process.env.XNN_LOG_LEVEL ?? "info"): Logger {
  return pino({ name, level, base: { app: name } }, pino.destination(2));
}
export type { Logger };
