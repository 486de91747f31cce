import { type ConfigIssue, formatIssue } from "@xnn/shared";

export interface ApiSubmitResult {
  id: string;
  created: boolean;
  runs: number;
  jobs: number;
  status: string;
}

/** A refusal from the API, with a message ready for a terminal. */
export class ApiSubmitError extends Error {
  override name = "ApiSubmitError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * `pnpm sweep --api URL`: hands the sweep text to POST /api/sweeps, which validates and submits it
 * with the same functions the CLI uses (its `base` is resolved against the server's conf dir).
 */
export async function submitViaApi(options: {
  apiUrl: string;
  token: string;
  yaml: string;
  fresh: boolean;
  /** Shown in validation errors instead of the server's file-less locations. */
  file: string;
}): Promise<ApiSubmitResult> {
  const url = new URL("/api/sweeps", options.apiUrl);
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${options.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ yaml: options.yaml, new: options.fresh }),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new ApiSubmitError(`cannot reach the API at ${url.origin}: ${(err as Error).message}`, 0);
  }
  const body = (await res.json().catch(() => null)) as
    | (ApiSubmitResult & { error?: string; issues?: ConfigIssue[] })
    | null;
  if (res.ok && body) return body;
  if (res.status === 400 && body?.issues) {
    throw new ApiSubmitError(
      body.issues.map((i) => formatIssue({ ...i, file: options.file })).join("\n"),
      res.status,
    );
  }
  throw new ApiSubmitError(
    `API refused the sweep (HTTP ${res.status}): ${body?.error ?? res.statusText}`,
    res.status,
  );
}
