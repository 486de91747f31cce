import { applyMigrations, listMigrations } from "../migrate";

// `pnpm db:migrate`: applies prisma/migrations/* to DATABASE_URL without network access.
const url = process.env.DATABASE_URL;
if (!url) {
  console.error(
    "DATABASE_URL is not set. Example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/xnn pnpm db:migrate",
  );
  process.exit(2);
}
try {
  const applied = await applyMigrations(url);
  const total = listMigrations().length;
  console.log(
    applied.length === 0
      ? `Database is up to date (${total} migration(s)).`
      : `Applied ${applied.length} migration(s): ${applied.join(", ")}`,
  );
} catch (err) {
  console.error(`Migration failed: ${(err as Error).message}`);
  process.exit(1);
}
