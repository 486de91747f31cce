import { randomBytes } from "node:crypto";

/** Sweep ids are derived from content, so that submitting the same sweep twice finds the first one. */
export function sweepIdFor(name: string, fingerprint: string, fresh = false): string {
  const slug =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "")
      .slice(0, 40) || "sweep";
  const base = `${slug}-${fingerprint.slice(0, 10)}`;
  return fresh ? `${base}-${randomBytes(3).toString("hex")}` : base;
}

export function runIdFor(sweepId: string, runKey: string): string {
  return `${sweepId}.${runKey}`;
}
