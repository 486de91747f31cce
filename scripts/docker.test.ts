import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

// No Docker engine on these machines: the images cannot be built here, so the files are linted
// (dclint validates the compose file against the Compose schema; dockerfile-utils is the VS Code
// Docker extension's Dockerfile linter) and the deployment rules are checked on the parsed file.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name: string) => path.join(root, "node_modules/.bin", name);
const run = (cmd: string, args: string[]) =>
  promisify(execFile)(cmd, args, { cwd: root }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );

interface Service {
  image?: string;
  build?: unknown;
  ports?: unknown[];
  volumes?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: unknown; disable?: boolean };
  restart?: string;
  command?: string[];
  deploy?: { resources?: { reservations?: { devices?: Record<string, unknown>[] } } };
}
const composeText = readFileSync(path.join(root, "docker/compose.yaml"), "utf8");
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

describe("docker/", () => {
  it("the compose file passes dclint (Compose schema and rules)", async () => {
    const r = await run(bin("dclint"), ["docker/compose.yaml"]);
    expect(r.out.trim()).toBe("");
    expect(r.code).toBe(0);
  });

  it.each(["gpu-worker", "scheduler"])("docker/%s.Dockerfile passes dockerfile-utils lint", async (name) => {
    const r = await run(bin("dockerfile-utils"), ["lint", `docker/${name}.Dockerfile`]);
    expect(r.out.trim()).toBe("");
    expect(r.code).toBe(0);
  });

  it("Redis, Postgres and MinIO publish no ports; only the API does, on localhost by default", () => {
    for (const name of ["redis", "postgres", "minio"]) expect(services[name]?.ports, name).toBeUndefined();
    const published = Object.entries(services).filter(([, s]) => s.ports);
    expect(published.map(([n]) => n)).toEqual(["api"]);
    expect(services.api!.ports).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation, not a JS template
      { target: 4000, published: "4000", host_ip: "${XNN_API_BIND:-127.0.0.1}" },
    ]);
  });

  it("every long-running service has a healthcheck; the worker's is pnpm worker --check", () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.restart === "no") continue;
      expect(s.healthcheck?.test, name).toBeDefined();
    }
    expect(services["gpu-worker"]!.healthcheck!.test).toEqual([
      "CMD",
      "pnpm",
      "-s",
      "worker",
      "--check",
      "--gpus",
      "all",
    ]);
    const dockerfile = readFileSync(path.join(root, "docker/gpu-worker.Dockerfile"), "utf8");
    expect(dockerfile).toMatch(
      /HEALTHCHECK [^\n]*\\\n\s+CMD \["pnpm", "-s", "worker", "--check", "--gpus", "all"\]/,
    );
  });

  it("the worker reserves GPUs in Compose's documented form and installs its backend from the lockfile", () => {
    expect(services["gpu-worker"]!.deploy?.resources?.reservations?.devices).toEqual([
      { driver: "nvidia", count: "all", capabilities: ["gpu"] },
    ]);
    expect(composeText).not.toMatch(/^\s+gpus:/m);
    const dockerfile = readFileSync(path.join(root, "docker/gpu-worker.Dockerfile"), "utf8");
    expect(dockerfile).not.toMatch(/pnpm (--filter \S+ )?add/);
    expect(dockerfile).toMatch(/pnpm install (--offline )?--frozen-lockfile/);
  });

  it("passwords come from the environment, required", () => {
    for (const v of ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD"]) {
      const uses = composeText.match(new RegExp(`\\$\\{${v}[^}]*\\}`, "g")) ?? [];
      expect(uses.length, v).toBeGreaterThan(0);
      for (const u of uses) expect(u, v).toMatch(new RegExp(`^\\$\\{${v}:\\?`));
    }
  });

  it("api, migrate and gpu-worker share one artifact store (MinIO, created by a one-shot service), no shared volume", () => {
    const keys = [
      "ARTIFACT_URL",
      "AWS_ENDPOINT_URL",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_REGION",
    ];
    const envOf = (n: string) => Object.fromEntries(keys.map((k) => [k, services[n]!.environment?.[k]]));
    expect(envOf("api").ARTIFACT_URL).toBe("s3://xnn-artifacts/xnn");
    expect(envOf("api").AWS_ENDPOINT_URL).toBe("http://minio:9000");
    expect(envOf("migrate")).toEqual(envOf("api"));
    expect(envOf("gpu-worker")).toEqual(envOf("api"));
    expect(services["minio-bucket"]!.restart).toBe("no");
    expect(String(services["minio-bucket"]!.command)).toMatch(/mc mb --ignore-existing xnn\/xnn-artifacts/);
    for (const s of Object.values(services))
      for (const v of s.volumes ?? []) expect(v).not.toMatch(/artifacts/);
  });

  it(".dockerignore keeps host dependencies, state and data out of the build context", () => {
    const ignored = readFileSync(path.join(root, ".dockerignore"), "utf8").split("\n");
    for (const p of ["**/node_modules", ".xnn", "data", "runs", "artifacts", ".env", ".git"])
      expect(ignored, p).toContain(p);
  });
});
