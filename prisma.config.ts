// Lets the Prisma CLI use its WebAssembly schema engine through a driver adapter, so that
// `prisma migrate diff` works on machines that cannot download the native schema engine.
import { PrismaPg } from "@prisma/adapter-pg";
import { defineConfig } from "prisma/config";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  async adapter() {
    return new PrismaPg({
      connectionString: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres",
    });
  },
});
