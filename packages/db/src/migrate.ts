import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sha256 } from "@xnn/shared";
import { createSql } from "./sql";

export const MIGRATIONS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../prisma/migrations",
);

// Same key Prisma's migrate uses, so this runner and `prisma migrate deploy` never run at once.
const ADVISORY_LOCK_KEY = 72707369;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((name) => statSync(path.join(dir, name)).isDirectory())
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: sha256(sql) };
    });
}

export class MigrationError extends Error {
  override name = "MigrationError";
}

/**
 * Applies the committed SQL migrations that are not applied yet, recording each in Prisma's own
 * `_prisma_migrations` table exactly as `prisma migrate deploy` would, so both agree on the state.
 * Returns the names it applied.
 */
export async function applyMigrations(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const sql = createSql(databaseUrl, { max: 1 });
  const applied: string[] = [];
  try {
    await sql`SELECT pg_advisory_lock(${ADVISORY_LOCK_KEY})`;
    await sql`
      CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
        "id" VARCHAR(36) PRIMARY KEY NOT NULL,
        "checksum" VARCHAR(64) NOT NULL,
        "finished_at" TIMESTAMPTZ,
        "migration_name" VARCHAR(255) NOT NULL,
        "logs" TEXT,
        "rolled_back_at" TIMESTAMPTZ,
        "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
        "applied_steps_count" INTEGER NOT NULL DEFAULT 0
      )`;
    const rows = await sql<{ migration_name: string; checksum: string; finished_at: Date | null }[]>`
      SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`;
    const done = new Map(rows.map((r) => [r.migration_name, r]));
    for (const m of listMigrations(dir)) {
      const prev = done.get(m.name);
      if (prev?.finished_at) {
        if (prev.checksum !== m.checksum) {
          throw new MigrationError(
            `migration ${m.name} was edited after it was applied (checksum ${prev.checksum.slice(0, 12)} in the database, ${m.checksum.slice(0, 12)} on disk); add a new migration instead`,
          );
        }
        continue;
      }
      if (prev) {
        throw new MigrationError(
          `migration ${m.name} started earlier but did not finish; inspect the database, then mark it rolled back in _prisma_migrations`,
        );
      }
      await sql.begin(async (tx) => {
        const id = randomUUID();
        await tx`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES (${id}, ${m.checksum}, ${m.name}, now())`;
        await tx.unsafe(m.sql);
        await tx`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = ${id}`;
      });
      applied.push(m.name);
    }
    return applied;
  } finally {
    await sql`SELECT pg_advisory_unlock(${ADVISORY_LOCK_KEY})`.catch(() => {});
    await sql.end({ timeout: 5 });
  }
}
