import { createSql, registerDatasetVersion } from "@xnn/db";
import { describeDataset } from "../data/describe.js";

/** Registers the data set in `dir` and says what was registered, in one line. */
export type DatasetRegistrar = (dir: string, registeredBy: string) => Promise<string>;

/**
 * The data set registry behind DATABASE_URL, or undefined when it is not set (the data commands
 * then only say that nothing was registered: a data set can be made without a database).
 */
export function registrarFor(databaseUrl: string | undefined): DatasetRegistrar | undefined {
  if (!databaseUrl) return undefined;
  return async (dir, registeredBy) => {
    const description = await describeDataset(dir);
    const sql = createSql(databaseUrl, { max: 2 });
    try {
      const r = await registerDatasetVersion(sql, description, registeredBy);
      const unreadable = description.unreadable.length;
      return (
        `${r.created ? "registered" : "already registered"}: data set ${description.root} version ${r.versionId} ` +
        `(fingerprint ${description.fingerprint.slice(0, 12)}, ${description.imageCount} images` +
        `${unreadable ? `, ${unreadable} unreadable` : ""})`
      );
    } finally {
      await sql.end({ timeout: 5 });
    }
  };
}
