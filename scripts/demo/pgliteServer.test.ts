import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { applyMigrations, createPrisma, createSql } from "@xnn/db";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, portOpen } from "./freePort";
import { type RunningPglite, startPgliteServer } from "./pgliteServer";

const dir = mkdtempSync(path.join(os.tmpdir(), "xnn-demo-pglite-"));
let pg: RunningPglite | null = null;

afterAll(async () => {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("startPgliteServer", () => {
  it("serves PGlite on a free port; migrations apply and Prisma queries through it", async () => {
    const port = await freePort();
    expect(await portOpen(port)).toBe(false);

    pg = await startPgliteServer({
      dataDir: path.join(dir, "db"),
      logFile: path.join(dir, "pglite.log"),
      port,
    });
    expect(pg.url).toBe(`postgresql://postgres:postgres@127.0.0.1:${port}/postgres?sslmode=disable`);

    const applied = await applyMigrations(pg.url);
    expect(applied.length).toBeGreaterThan(0);
    // A second run finds them recorded in _prisma_migrations and applies nothing.
    expect(await applyMigrations(pg.url)).toEqual([]);

    const prisma = createPrisma(pg.url, { poolSize: 2 });
    try {
      await prisma.sweep.create({
        data: { id: "s1", name: "demo-test", task: "t", fingerprint: "f", sourceYaml: "name: demo-test" },
      });
      // Two pooled connections at once, as the API and workers do, through the one PGlite.
      const [count, found] = await Promise.all([
        prisma.sweep.count(),
        prisma.sweep.findUnique({ where: { id: "s1" }, select: { name: true, status: true } }),
      ]);
      expect(count).toBe(1);
      expect(found).toEqual({ name: "demo-test", status: "pending" });
    } finally {
      await prisma.$disconnect();
    }

    // Many clients at once, as the API, the workers and the demo are: each client's
    // Parse/Bind/Execute/Sync must reach the one PGlite session without another's cut in between.
    const clients = [createPrisma(pg.url, { poolSize: 4 }), createPrisma(pg.url, { poolSize: 4 })];
    try {
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => {
          const client = clients[i % 2]!;
          if (i % 10 === 0) {
            return client.$transaction(async (tx) => {
              await tx.sweep.update({ where: { id: "s1" }, data: { error: `t${i}` } });
              return (await tx.sweep.findUniqueOrThrow({ where: { id: "s1" } })).error === `t${i}`;
            });
          }
          return client.sweep
            .findUnique({ where: { id: "s1" }, select: { id: true } })
            .then((r) => r?.id === "s1");
        }),
      );
      expect(results.every(Boolean)).toBe(true);
    } finally {
      await Promise.all(clients.map((c) => c.$disconnect()));
    }

    // One shared session: a NOTIFY from one client reaches the client that LISTENs, not the sender.
    const listener = createSql(pg.url, { max: 1 });
    const sender = createSql(pg.url, { max: 1 });
    try {
      let resolveReceived: (payload: string) => void = () => {};
      const received = new Promise<string>((resolve) => {
        resolveReceived = resolve;
      });
      // listen() resolves once LISTEN has run: only then can a NOTIFY from elsewhere reach it.
      await listener.listen("xnn_demo_test", (payload) => resolveReceived(payload));
      await sender`SELECT pg_notify('xnn_demo_test', 'hello')`;
      expect(await received).toBe("hello");
    } finally {
      await Promise.all([listener.end({ timeout: 1 }), sender.end({ timeout: 1 })]);
    }

    await pg.stop();
    const exit = await pg.service.exited;
    expect(exit.signal === null && exit.code === 0).toBe(true);
    expect(await portOpen(port)).toBe(false);
    // The data stays for the next start.
    expect(existsSync(path.join(dir, "db", "PG_VERSION"))).toBe(true);
    pg = null;
  });
});
