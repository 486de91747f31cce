import { z } from "zod";

/** Token roles, least to most privileged: each one may do what the ones before it may. */
export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];
export const roleSchema = z.enum(ROLES);

/** GET /api/me: who the token belongs to. */
export const meSchema = z.object({ role: roleSchema, name: z.string() });
export type Me = z.infer<typeof meSchema>;
