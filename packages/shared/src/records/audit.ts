import { z } from "zod";
import { timestampSchema } from "./common";

/** Every mutation the scheduler offers, as written to AuditEvent.action. */
export const AUDIT_ACTIONS = [
  "sweep.submit",
  "sweep.cancel",
  "sweep.promote-best",
  "run.promote",
  "token.create",
  "token.revoke",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AUDIT_OUTCOMES = ["ok", "denied", "rejected", "error"] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** GET /api/audit rows (AuditEvent). */
export const auditEventRowSchema = z.object({
  id: z.string(),
  createdAt: timestampSchema,
  actor: z.string().nullable(),
  actorRole: z.string().nullable(),
  tokenId: z.string().nullable(),
  action: z.enum(AUDIT_ACTIONS),
  targetId: z.string().nullable(),
  outcome: z.enum(AUDIT_OUTCOMES),
  status: z.number().int(),
  message: z.string().nullable(),
  ip: z.string().nullable(),
});
export type AuditEventRow = z.infer<typeof auditEventRowSchema>;
