import { z } from "zod";

export class EnvError extends Error {
  override name = "EnvError";
}

/**
 * Parses process.env (or a given object) once, at an entry point. Every problem is reported at once,
 * naming the variable, so a misconfigured host fails with one readable message.
 */
export function parseEnv<T extends z.ZodRawShape>(
  shape: T,
  env: Record<string, string | undefined> = process.env,
): z.infer<z.ZodObject<T>> {
  const result = z.object(shape).safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => {
    const name = String(i.path[0]);
    const value = env[name];
    return value === undefined || value === ""
      ? `${name} is not set${i.message && !i.message.startsWith("Invalid input") ? ` (${i.message})` : ""}`
      : `${name}=${JSON.stringify(value)} is invalid: ${i.message}`;
  });
  throw new EnvError(`Bad environment:\n  ${lines.join("\n  ")}`);
}

export const postgresUrl = z
  .string({ error: "expected a postgres:// URL" })
  .regex(/^postgres(ql)?:\/\//, "expected a postgres:// or postgresql:// URL");
export const redisUrl = z
  .string({ error: "expected a redis:// URL" })
  .regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL");

/** BullMQ key prefix; lets several deployments (or test runs) share one Redis. */
export const queuePrefix = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.', '-' only")
  .default("bull");
