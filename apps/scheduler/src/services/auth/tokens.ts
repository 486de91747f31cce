import { randomBytes } from "node:crypto";
import type { PrismaClient, Sql } from "@xnn/db";
import { sha256 } from "@xnn/shared";
import { ROLES, type Role } from "@xnn/shared/records";

export { ROLES, type Role };

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export interface TokenIdentity {
  id: string;
  name: string;
  role: Role;
}

/**
 * Creates an API token and returns its plaintext, which is shown once and never stored: the database
 * keeps only its sha256, so a leaked database dump grants nothing.
 */
export async function createToken(prisma: PrismaClient, role: Role, name: string): Promise<string> {
  return (await issueToken(prisma, role, name)).token;
}

/** createToken, also returning the stored row's id (the admin API lists and revokes by id). */
export async function issueToken(
  prisma: PrismaClient,
  role: Role,
  name: string,
): Promise<{ id: string; token: string }> {
  const token = `xnn_${randomBytes(24).toString("base64url")}`;
  const row = await prisma.apiToken.create({
    data: { name, role, tokenHash: sha256(token) },
    select: { id: true },
  });
  return { id: row.id, token };
}

/** The identity behind a plaintext token, or null when it is unknown or revoked. */
export async function findToken(prisma: PrismaClient, plaintext: string): Promise<TokenIdentity | null> {
  const row = await prisma.apiToken.findUnique({
    where: { tokenHash: sha256(plaintext) },
    select: { id: true, name: true, role: true, revokedAt: true },
  });
  if (!row || row.revokedAt || !isRole(row.role)) return null;
  return { id: row.id, name: row.name, role: row.role };
}

/**
 * findToken over postgres.js: every API request authenticates, and this one indexed lookup costs a
 * fraction of a Prisma round trip.
 */
export async function findTokenSql(sql: Sql, plaintext: string): Promise<TokenIdentity | null> {
  const rows = await sql<{ id: string; name: string; role: string }[]>`
    SELECT id, name, role FROM "ApiToken" WHERE "tokenHash" = ${sha256(plaintext)} AND "revokedAt" IS NULL`;
  const row = rows[0];
  return row && isRole(row.role) ? { id: row.id, name: row.name, role: row.role } : null;
}

export async function revokeToken(prisma: PrismaClient, id: string): Promise<boolean> {
  const { count } = await prisma.apiToken.updateMany({
    where: { id, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  return count === 1;
}
