import { createReadStream, existsSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/**
 * Serves the built dashboard and passes /api/* through to the API, so the page finds the API on its
 * own origin (the dashboard's default) exactly as behind a reverse proxy in production. Responses are
 * piped as they arrive, which keeps server-sent events live.
 */
export async function serveDashboard(
  distDir: string,
  apiPort: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? "/";
    if (url.startsWith("/api/")) {
      const upstream = http.request(
        { host: "127.0.0.1", port: apiPort, path: url, method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on("error", (err) => {
        if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: `API unreachable: ${err.message}` }));
      });
      res.on("close", () => upstream.destroy());
      req.pipe(upstream);
      return;
    }
    const pathname = decodeURIComponent(new URL(url, "http://x").pathname);
    const file = path.join(distDir, path.normalize(pathname).replace(/^(\.\.[/\\])+/, ""));
    const target =
      file.startsWith(distDir) && existsSync(file) && statSync(file).isFile()
        ? file
        : path.join(distDir, "index.html");
    res.writeHead(200, { "content-type": TYPES[path.extname(target)] ?? "application/octet-stream" });
    createReadStream(target).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
