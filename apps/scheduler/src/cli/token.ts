import { parseArgs } from "node:util";
import { EnvError, parseEnv, postgresUrl } from "@xnn/shared";
import { cliActor, recordAuditEvent } from "../services/auth/auditEvents";
import { isRole, issueToken, ROLES, revokeToken } from "../services/auth/tokens";

const USAGE = `Usage:
  pnpm xnn token create --role ${ROLES.join("|")} [--name NAME]
  pnpm xnn token list
  pnpm xnn token revoke <id>`;

/** `pnpm xnn token ...`; returns the exit code. The plaintext is printed once and stored nowhere. */
export async function tokenCommand(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: { role: { type: "string" }, name: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  try {
    parsed = parse();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [action, ...args] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (action === "create" && !isRole(values.role)) {
    process.stderr.write(`--role must be one of ${ROLES.join(", ")}\n\n${USAGE}\n`);
    return 2;
  }
  if (action === "revoke" && args.length !== 1) {
    process.stderr.write(`token revoke needs one id\n\n${USAGE}\n`);
    return 2;
  }
  if (!["create", "list", "revoke"].includes(action)) {
    process.stderr.write(`unknown token action ${action}\n\n${USAGE}\n`);
    return 2;
  }

  let env: { DATABASE_URL: string };
  try {
    env = parseEnv({ DATABASE_URL: postgresUrl });
  } catch (err) {
    if (err instanceof EnvError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { createPrisma } = await import("@xnn/db");
  const prisma = createPrisma(env.DATABASE_URL, { poolSize: 1 });
  try {
    if (action === "create") {
      const role = values.role as (typeof ROLES)[number];
      const name = values.name ?? `${role}-${new Date().toISOString().slice(0, 10)}`;
      const { id, token } = await issueToken(prisma, role, name);
      await recordAuditEvent(prisma, {
        actor: cliActor(),
        actorRole: null,
        tokenId: null,
        action: "token.create",
        targetId: id,
        outcome: "ok",
        status: 201,
      });
      process.stderr.write(
        `Created ${role} token "${name}" (id ${id}). It is shown only now; store it safely.\n`,
      );
      process.stdout.write(`${token}\n`);
    } else if (action === "list") {
      const rows = await prisma.apiToken.findMany({ orderBy: { createdAt: "asc" } });
      for (const t of rows) {
        const state = t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : "active";
        process.stdout.write(`${t.id}  ${t.role.padEnd(8)}  ${t.name.padEnd(24)}  ${state}\n`);
      }
    } else {
      const revoked = await revokeToken(prisma, args[0]!);
      await recordAuditEvent(prisma, {
        actor: cliActor(),
        actorRole: null,
        tokenId: null,
        action: "token.revoke",
        targetId: args[0]!,
        outcome: revoked ? "ok" : "rejected",
        status: revoked ? 200 : 404,
        message: revoked ? null : `token ${args[0]} not found or already revoked`,
      });
      if (!revoked) {
        process.stderr.write(`token ${args[0]} not found or already revoked\n`);
        return 1;
      }
    }
    return 0;
  } catch (err) {
    process.stderr.write(`token ${action} failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await prisma.$disconnect();
  }
}
