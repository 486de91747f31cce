import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { detectGpus } from "../gpus";
import { repoRoot } from "../testing/workerHarness";
import { checkHost, findLibraries, parseLdconfig, type SmokeResult } from "./hostCheck";

const tmp = mkdtempSync(path.join(os.tmpdir(), "xnn-check-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function runCheck(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "apps/gpu-worker/src/index.ts", "--check", ...args],
    {
      cwd: repoRoot,
      // No DATABASE_URL or REDIS_URL: the check runs before either exists.
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, out })));
}

describe("CUDA library lookup", () => {
  it("finds a library by its exact soname and names other versions of a missing one", () => {
    const known = parseLdconfig(
      [
        "2 libs found in cache `/etc/ld.so.cache'",
        "\tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda-13.0/lib/libcudart.so.13",
        "\tlibcudart.so (libc6,x86-64) => /usr/local/cuda-13.0/lib/libcudart.so",
        "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1",
      ].join("\n"),
    );
    writeFileSync(path.join(tmp, "libcudnn.so.8"), "");
    const libs = new Map(findLibraries(known, [tmp]).map((l) => [l.soname, l]));
    expect(libs.get("libcuda.so.1")?.path).toBe("/usr/lib/x86_64-linux-gnu/libcuda.so.1");
    expect(libs.get("libcudnn.so.8")?.path).toBe(path.join(tmp, "libcudnn.so.8"));
    expect(libs.get("libcudart.so.11.0")).toMatchObject({ path: null, otherVersions: ["libcudart.so.13"] });
    expect(libs.get("libcublas.so.11")).toMatchObject({ path: null, otherVersions: [] });
  });
});

describe("checkHost", () => {
  const gpu = async () => [{ index: 0, name: "Test GPU", memoryMiB: 1024 }];
  it("with --gpus, a backend that trains on the CPU is a failure", async () => {
    const lines: string[] = [];
    const cpuOnly = async (): Promise<SmokeResult> => ({
      ok: true,
      backend: "tensorflow",
      device: "cpu",
      reason: "@tensorflow/tfjs-node (libtensorflow on CPU)",
      loss: 1,
      stepMs: 5,
    });
    const ok = await checkHost({ gpus: "0", backend: "auto", detect: gpu, smoke: cpuOnly }, (l) =>
      lines.push(l),
    );
    expect(ok).toBe(false);
    expect(lines).toContain("  0: Test GPU, 1024 MiB");
    expect(lines.join("\n")).toMatch(
      /Smoke training on GPU 0 \(CUDA_VISIBLE_DEVICES=0, XNN_BACKEND=tensorflow\)/,
    );
    expect(lines.join("\n")).toMatch(/but not on a GPU/);
  });

  it("rejects GPU indices that are not integers", async () => {
    const lines: string[] = [];
    const ok = await checkHost({ gpus: "x", backend: "auto", detect: gpu }, (l) => lines.push(l));
    expect(ok).toBe(false);
    expect(lines.join("\n")).toMatch(/--gpus x: expected GPU indices like 0,1 or all/);
  });
});

describe("pnpm worker --check", () => {
  it("without --gpus: trains one step on the backend a worker would use and exits 0", async () => {
    const { code, out } = await runCheck([]);
    expect(out).toMatch(/GPUs \(nvidia-smi\):/);
    expect(out).toMatch(/libcudnn\.so\.8 /);
    expect(out).toMatch(/@tensorflow\/tfjs-node-gpu: /);
    expect(out).toMatch(/(wasm|tensorflow) on (CPU|GPU): one step in \d+ ms, loss \d/);
    expect(code, out).toBe(0);
  }, 120_000);

  it("--gpus all: exits non-zero when no GPU backend loads, and says why", async () => {
    const gpus = await detectGpus();
    const { code, out } = await runCheck(["--gpus", "all"]);
    if (gpus.length > 0) {
      // A GPU host: each GPU gets its own smoke step; the exit code says whether all trained on it.
      for (const g of gpus) expect(out).toContain(`Smoke training on GPU ${g.index}`);
      expect(code).toBe(/FAIL/.test(out) ? 1 : 0);
      return;
    }
    expect(out).toContain("--gpus all: nvidia-smi found no GPU on this host");
    expect(out).toMatch(
      /failed: backend "tensorflow" requested but neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node is usable/,
    );
    expect(out).toMatch(/FAIL: no GPU backend trains/);
    expect(code).toBe(1);
  }, 120_000);
});
