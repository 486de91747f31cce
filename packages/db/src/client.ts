import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client/index.js";

export { Prisma, PrismaClient, RunStatus, Stage, SweepStatus } from "./generated/client/index.js";

/**
 * The one way apps get a Prisma client. It talks to Postgres through node-postgres (driver adapter),
 * so no native query engine is needed on any host.
 */
export function createPrisma(databaseUrl: string, options: { poolSize?: number } = {}): PrismaClient {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: options.poolSize ?? 5 });
  return new PrismaClient({ adapter });
}
