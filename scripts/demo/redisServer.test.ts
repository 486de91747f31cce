import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { findOnPath } from "./findOnPath";
import { portOpen } from "./freePort";
import { type RunningRedis, startRedisServer } from "./redisServer";

const bin = findOnPath("redis-server");
const dir = mkdtempSync(path.join(os.tmpdir(), "xnn-demo-redis-"));
let redis: RunningRedis | null = null;

afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!bin)("startRedisServer", () => {
  it("starts redis-server on a free port, serves, and stops cleanly keeping nothing on disk", async () => {
    redis = await startRedisServer({
      bin: bin!,
      dir: path.join(dir, "data"),
      logFile: path.join(dir, "redis.log"),
    });
    expect(redis.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);

    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      await client.set("xnn:demo:test", "1");
      expect(await client.get("xnn:demo:test")).toBe("1");
      expect(await client.config("GET", "save")).toEqual(["save", ""]);
      expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "no"]);
    } finally {
      client.disconnect();
    }

    const { port, service } = redis;
    await redis.stop();
    redis = null;
    expect(await service.exited).toEqual({ code: 0, signal: null });
    expect(await portOpen(port)).toBe(false);
    expect(readdirSync(path.join(dir, "data"))).toEqual([]);
  });

  it("fails with the log when redis-server cannot start", async () => {
    await expect(
      startRedisServer({
        bin: bin!,
        dir: path.join(dir, "bad"),
        logFile: path.join(dir, "bad.log"),
        // Port 1 needs root to bind and is never free for an ordinary user; as root, use a taken port.
        port: process.getuid?.() === 0 ? await takenPort() : 1,
      }),
    ).rejects.toThrow(/redis-server exited/);
  });
});

async function takenPort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
      afterAll(() => new Promise<void>((done) => server.close(() => done())));
    });
  });
}
