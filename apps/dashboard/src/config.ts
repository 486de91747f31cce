/**
 * Where the API lives, decided at run time so one build works behind any host:
 * 1. `config.json` next to index.html ({ "apiUrl": "https://..." }), if the server provides one;
 * 2. else `VITE_API_URL` baked in at build time;
 * 3. else the page's own origin (the API serves the dashboard, or a proxy puts both on one host).
 */
export interface RuntimeConfig {
  apiUrl: string;
}

let current: RuntimeConfig = { apiUrl: "" };

export async function loadRuntimeConfig(): Promise<RuntimeConfig> {
  const fallback = (import.meta.env.VITE_API_URL as string | undefined) ?? "";
  let apiUrl = fallback;
  try {
    const res = await fetch(new URL("config.json", document.baseURI), { cache: "no-store" });
    if (res.ok && (res.headers.get("content-type") ?? "").includes("json")) {
      const body = (await res.json()) as Partial<RuntimeConfig>;
      if (typeof body.apiUrl === "string") apiUrl = body.apiUrl;
    }
  } catch {
    // No config.json: keep the build-time or same-origin default.
  }
  current = { apiUrl: apiUrl.replace(/\/+$/, "") };
  return current;
}

export function apiUrl(path: string): string {
  return `${current.apiUrl}/api${path}`;
}
