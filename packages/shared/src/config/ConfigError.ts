/** One problem in a config file, located precisely enough for an editor to jump to it. */
export interface ConfigIssue {
  /** The file the problem is in; omitted for text submitted without a file (the API). */
  file?: string;
  line: number;
  col: number;
  /** Key path inside the file, like `axes.model[2]`. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file ? `${issue.file}:` : ""}${issue.line}:${issue.col}`;
  return `${where}${issue.path ? ` ${issue.path}` : ""}: ${issue.message}`;
}

/** A user-caused config problem. Thrown before anything is written anywhere. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}
