import postgres from "postgres";

export type Sql = postgres.Sql;
/** The `sql` inside `sql.begin(async (tx) => ...)`: the same tagged template on one connection. */
export type TransactionSql = postgres.TransactionSql;

/**
 * postgres.js, for the hot paths Prisma is slow at (batched metric upserts) and for LISTEN/NOTIFY.
 * Notices are dropped: "relation already exists, skipping" is not news.
 */
export function createSql(databaseUrl: string, options: { max?: number } = {}): Sql {
  return postgres(databaseUrl, { max: options.max ?? 5, onnotice: () => {}, idle_timeout: 30 });
}
