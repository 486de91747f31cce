import { fetchUtils, HttpError } from "react-admin";
import { apiUrl } from "./config";

const TOKEN_KEY = "xnn.token";

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** fetchJson with the bearer token; what the ra-data-simple-rest provider and every custom call use. */
export function httpClient(url: string, options: fetchUtils.Options = {}) {
  const token = getToken();
  return fetchUtils.fetchJson(url, {
    ...options,
    user: token ? { authenticated: true, token: `Bearer ${token}` } : undefined,
  });
}

/** Calls an API path (`/runs/x/metrics`) and returns its JSON body; errors are react-admin HttpErrors. */
export async function apiRequest<T>(
  path: string,
  options: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const { json } = await httpClient(apiUrl(path), {
    method: options.method ?? "GET",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: options.signal,
  });
  return json as T;
}

export function errorMessage(err: unknown): string {
  if (err instanceof HttpError) {
    const body = err.body as { error?: string; message?: string } | undefined;
    return body?.error ?? body?.message ?? err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
