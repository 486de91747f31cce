import type { CliIO } from "./cliUtil.js";

/** A CliIO that keeps what a command printed, for the CLI tests. */
export function captureIO(): CliIO & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    tty: false,
    out: (s: string) => {
      io.stdout += s;
    },
    err: (s: string) => {
      io.stderr += s;
    },
  };
  return io;
}
