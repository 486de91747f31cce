import { z } from "zod";
import { AUDIT_ACTIONS, AUDIT_OUTCOMES } from "./auditActions";
import { timestampSchema } from "./common";

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
