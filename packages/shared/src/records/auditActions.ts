// Zod-free, so the dashboard can import these lists without bundling zod.

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
