import { z } from "zod";

/**
 * A point in time as it crosses a process boundary: ISO 8601 in UTC, what JSON.stringify writes
 * for a Date. Services turn their Dates into this with `toTimestamp` before answering.
 */
export const timestampSchema = z.iso.datetime();
export type Timestamp = z.infer<typeof timestampSchema>;

export function toTimestamp(date: Date): Timestamp;
export function toTimestamp(date: Date | null): Timestamp | null;
export function toTimestamp(date: Date | null): Timestamp | null {
  return date === null ? null : date.toISOString();
}

/**
 * Any JavaScript number, NaN and infinities included: for in-memory and thread records (a
 * diverged loss, a mean over no images) before the store turns non-finite values into null.
 */
export const anyNumberSchema = z.custom<number>((v) => typeof v === "number", "expected a number");

/** A stored figure: finite, or null where it was not computed (NaN and infinities are stored as null). */
export const nullableFigureSchema = z.number().nullable();

/** Run statuses, as the database's `RunStatus` enum spells them. */
export const RUN_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "pruned"] as const;
export const runStatusSchema = z.enum(RUN_STATUSES);
export type RunStatusName = z.infer<typeof runStatusSchema>;

/** Sweep statuses, as the database's `SweepStatus` enum spells them. */
export const SWEEP_STATUSES = ["pending", "queued", "running", "succeeded", "failed", "cancelled"] as const;
export const sweepStatusSchema = z.enum(SWEEP_STATUSES);
export type SweepStatusName = z.infer<typeof sweepStatusSchema>;
