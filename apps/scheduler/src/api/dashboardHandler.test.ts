import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dashboardHandler } from "./dashboardHandler";

const root = mkdtempSync(path.join(os.tmpdir(), "xnn-demo-dash-"));
const dist = path.join(root, "dist");
let server: http.Server;
let base: string;

beforeAll(async () => {
  mkdirSync(path.join(dist, "assets"), { recursive: true });
  writeFileSync(path.join(dist, "index.html"), "<!doctype html><title>xnn</title>");
  writeFileSync(path.join(dist, "assets", "app-1a2b.js"), "console.log(1)");
  writeFileSync(path.join(root, "secret.txt"), "outside the build");
  server = http.createServer(dashboardHandler(dist));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

/** Raw GET, so that `..` reaches the server as typed (fetch would normalise it away). */
function get(urlPath: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}${urlPath}`, (res) => {
        let body = "";
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }),
        );
      })
      .on("error", reject);
  });
}

describe("dashboardHandler", () => {
  it("serves built files with their content type", async () => {
    const js = await get("/assets/app-1a2b.js");
    expect(js).toMatchObject({ status: 200, body: "console.log(1)" });
    expect(js.type).toContain("javascript");
  });

  it("answers client-side routes with index.html", async () => {
    const page = await get("/runs/abc/show");
    expect(page.status).toBe(200);
    expect(page.body).toContain("<title>xnn</title>");
  });

  it("never serves files outside the build folder", async () => {
    for (const p of ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"]) {
      const res = await get(p);
      expect(res.body).not.toContain("outside the build");
    }
  });
});
