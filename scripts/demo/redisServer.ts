import { mkdirSync } from "node:fs";
import net from "node:net";
import { type ChildService, spawnService, waitUntilReady } from "./childService";
import { freePort } from "./freePort";

export interface RunningRedis {
  url: string;
  port: number;
  service: ChildService;
  stop(): Promise<void>;
}

/** Sends an inline PING and waits for +PONG: open port alone is not "loaded and serving". */
function redisPing(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, timeout: timeoutMs });
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}

/**
 * A private redis-server on a free port, bound to loopback, keeping nothing on disk: the demo's
 * queue lives only as long as the demo (its results are in Postgres).
 */
export async function startRedisServer(options: {
  bin: string;
  dir: string;
  logFile: string;
  port?: number;
  timeoutMs?: number;
}): Promise<RunningRedis> {
  mkdirSync(options.dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const service = spawnService({
    name: "redis-server",
    command: options.bin,
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      options.dir,
      "--daemonize",
      "no",
    ],
    logFile: options.logFile,
  });
  const stop = async () => {
    await service.stop({ signal: "SIGTERM", timeoutMs: 10_000 });
  };
  try {
    await waitUntilReady(service, () => redisPing(port), {
      timeoutMs: options.timeoutMs ?? 30_000,
      what: `answering PING on 127.0.0.1:${port}`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}`, port, service, stop };
}
