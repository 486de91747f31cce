import type { z } from "zod";

/** Turns a zod issue into a message a person can act on, without zod's jargon. */
export function describeZodIssue(issue: z.core.$ZodIssue, received: unknown): string {
  switch (issue.code) {
    case "invalid_value": {
      const options = issue.values.map((v) => JSON.stringify(v)).join(", ");
      return `unknown value ${JSON.stringify(received)}; expected one of ${options}`;
    }
    case "invalid_type":
      return `expected ${issue.expected}, got ${describeType(received)}`;
    case "too_small":
      if (issue.origin === "array") return `must have at least ${issue.minimum} item(s)`;
      if (issue.origin === "string") return "must not be empty";
      return `must be ${issue.inclusive ? ">=" : ">"} ${issue.minimum}, got ${JSON.stringify(received)}`;
    case "too_big":
      if (issue.origin === "array") return `must have at most ${issue.maximum} item(s)`;
      return `must be ${issue.inclusive ? "<=" : "<"} ${issue.maximum}, got ${JSON.stringify(received)}`;
    case "unrecognized_keys":
      return `unknown key "${issue.keys[0]}"`;
    case "invalid_union":
      return `invalid value ${JSON.stringify(received)}`;
    default:
      return issue.message;
  }
}

function describeType(v: unknown): string {
  if (v === undefined) return "nothing (missing)";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "a mapping" : `${typeof v} ${JSON.stringify(v)}`;
}

export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const part of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part as string];
  }
  return cur;
}
