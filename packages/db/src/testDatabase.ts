import { randomBytes } from "node:crypto";
import { sha256 } from "@xnn/shared";
import { applyMigrations, listMigrations } from "./migrate";
import { createSql } from "./sql";

/** URL of the same server with another database name. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * A fresh, migrated database for one test file, cloned from a template that is migrated once per
 * migration set (cloning takes ~100 ms; migrating every file would take seconds).
 */
export async function createTestDatabase(
  serverUrl: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const migrationsHash = sha256(
    listMigrations()
      .map((m) => m.checksum)
      .join(","),
  ).slice(0, 12);
  const template = `xnn_tpl_${migrationsHash}`;
  const admin = createSql(serverUrl, { max: 1 });
  try {
    await admin`SELECT pg_advisory_lock(7290001)`;
    try {
      const exists = await admin`SELECT 1 FROM pg_database WHERE datname = ${template}`;
      if (exists.length === 0) {
        const building = `${template}_building`;
        await admin.unsafe(`DROP DATABASE IF EXISTS "${building}"`);
        await admin.unsafe(`CREATE DATABASE "${building}"`);
        await applyMigrations(withDatabase(serverUrl, building));
        // Renamed only once complete, so a crash mid-migration never leaves a half-made template.
        await admin.unsafe(`ALTER DATABASE "${building}" RENAME TO "${template}"`);
      }
    } finally {
      await admin`SELECT pg_advisory_unlock(7290001)`;
    }
    const name = `xnn_t_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
    await admin.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
    const url = withDatabase(serverUrl, name);
    return {
      url,
      drop: async () => {
        const a = createSql(serverUrl, { max: 1 });
        try {
          await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        } finally {
          await a.end({ timeout: 5 });
        }
      },
    };
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Server the integration tests use: DATABASE_URL (any database on it), else the local default. */
export function testDatabaseServerUrl(): string {
  return process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
}

export function testRedisUrl(): string {
  return process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
}

/** A BullMQ key prefix no other test uses, so tests can share one Redis without seeing each other's jobs. */
export function testQueuePrefix(): string {
  return `xnn-test-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
}
