import os from "node:os";
import type { Prisma, PrismaClient } from "@xnn/db";
import { AUDIT_ACTIONS, AUDIT_OUTCOMES, type AuditAction, type AuditOutcome } from "@xnn/shared/records";

export { AUDIT_ACTIONS, AUDIT_OUTCOMES, type AuditAction, type AuditOutcome };

export interface AuditEventInput {
  /** The token's name; for the CLIs, `cli:<OS user>` (they hold database access, not a token). */
  actor: string;
  actorRole: string | null;
  tokenId: string | null;
  action: AuditAction;
  targetId: string | null;
  outcome: AuditOutcome;
  /** The HTTP status; for the CLIs 200 on success and 400/404 for refusals, as the API would answer. */
  status: number;
  message?: string | null;
  ip?: string | null;
  /** Numbers the action was decided on (a promotion's comparison with production, an override's reason). */
  details?: Prisma.InputJsonValue | null;
}

export function recordAuditEvent(prisma: PrismaClient, event: AuditEventInput) {
  return prisma.auditEvent.create({
    data: {
      ...event,
      targetId: event.targetId?.slice(0, 200) ?? null,
      message: event.message?.slice(0, 500) ?? null,
      ip: event.ip ?? null,
      details: event.details ?? undefined,
    },
  });
}

/** Who a command-line mutation is attributed to. */
export function cliActor(): string {
  let user = process.env.USER ?? "unknown";
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid): keep the environment's name.
  }
  return `cli:${user}@${os.hostname()}`;
}
