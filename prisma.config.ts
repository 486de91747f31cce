// Lets the Prisma CLI use its WebAssembly schema engine through a driver adapter, so that
// `prisma migrate diff` works on machines that cannot download the native schema engine.
import { PrismaPg } from "@prisma/adapter-pg";
import { defineConfig } from "prisma/config";

// Discrete fields, not a connection string: the adapter makes its shadow database by overriding
// `database`, which a connection string would silently win over.
function pgConfig(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username || "postgres"),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: u.pathname.slice(1) || "postgres",
  };
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  async adapter() {
    return new PrismaPg(
      pgConfig(process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres"),
    );
  },
});
