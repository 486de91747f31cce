import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { BackendKind } from "@xnn/shared";
import { detectGpus, type GpuInfo } from "../gpus";

/**
 * The shared libraries libtensorflow 2.9 (inside @tensorflow/tfjs-node-gpu 4.x) opens on a GPU:
 * CUDA 11.x and cuDNN 8. A newer CUDA on the host does not satisfy it (the sonames differ).
 */
export const CUDA_LIBRARIES = [
  { soname: "libcuda.so.1", what: "NVIDIA driver" },
  { soname: "libcudart.so.11.0", what: "CUDA 11 runtime" },
  { soname: "libcublas.so.11", what: "cuBLAS 11" },
  { soname: "libcublasLt.so.11", what: "cuBLASLt 11" },
  { soname: "libcufft.so.10", what: "cuFFT (CUDA 11)" },
  { soname: "libcurand.so.10", what: "cuRAND (CUDA 11)" },
  { soname: "libcusolver.so.11", what: "cuSOLVER 11" },
  { soname: "libcusparse.so.11", what: "cuSPARSE 11" },
  { soname: "libcudnn.so.8", what: "cuDNN 8" },
] as const;

/** Where CUDA installs put libraries that a host may not have registered with ldconfig. */
const KNOWN_DIRS = ["/usr/local/cuda/lib64", "/usr/local/cuda/lib", "/usr/lib/x86_64-linux-gnu"];

export interface LibraryStatus {
  soname: string;
  what: string;
  path: string | null;
  /** Other versions of the same library that were found (e.g. libcudart.so.13): a likely mismatch. */
  otherVersions: string[];
}

/** ldconfig -p lines: "\tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda-13.0/lib/libcudart.so.13". */
export function parseLdconfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
    if (m && !out.has(m[1]!)) out.set(m[1]!, m[3]!);
  }
  return out;
}

export function findLibraries(
  known: Map<string, string>,
  dirs: string[] = [...KNOWN_DIRS, ...(process.env.LD_LIBRARY_PATH?.split(":").filter(Boolean) ?? [])],
): LibraryStatus[] {
  const inDirs = new Map<string, string>();
  for (const dir of dirs) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) if (!inDirs.has(n)) inDirs.set(n, path.join(dir, n));
  }
  const all = new Map([...inDirs, ...known]);
  return CUDA_LIBRARIES.map(({ soname, what }) => {
    const stem = soname.slice(0, soname.indexOf(".so") + 3);
    const otherVersions = [...all.keys()]
      .filter((n) => n.startsWith(`${stem}.`) && n !== soname && !soname.startsWith(`${n}.`))
      .sort();
    return { soname, what, path: all.get(soname) ?? null, otherVersions };
  });
}

async function ldconfigCache(): Promise<Map<string, string>> {
  for (const bin of ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]) {
    try {
      const { stdout } = await promisify(execFile)(bin, ["-p"], { timeout: 5_000, maxBuffer: 16 << 20 });
      return parseLdconfig(stdout);
    } catch {
      // try the next location
    }
  }
  return new Map();
}

export interface PackageStatus {
  name: string;
  installed: boolean;
  /** The native addon its install script builds; absent when libtensorflow could not be downloaded. */
  binding: string | null;
}

const require = createRequire(import.meta.url);
// The engine package declares them (optionalDependencies); resolve from there.
const mlDir = path.dirname(require.resolve("@xnn/ml"));

function packageStatus(name: string): PackageStatus {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(`${name}/package.json`, { paths: [mlDir] }));
  } catch {
    return { name, installed: false, binding: null };
  }
  const lib = path.join(dir, "lib");
  const napi = existsSync(lib) ? readdirSync(lib).filter((d) => d.startsWith("napi-v")) : [];
  const binding = napi.map((d) => path.join(lib, d, "tfjs_binding.node")).find((p) => existsSync(p)) ?? null;
  return { name, installed: true, binding };
}

export type SmokeResult =
  | { ok: true; backend: string; device: "gpu" | "cpu"; reason: string; loss: number; stepMs: number }
  | { ok: false; error: string };

const smokeEntry = path.join(path.dirname(fileURLToPath(import.meta.url)), "smoke.ts");

/** One training step in a child process with this environment; a crash is a result, not a throw. */
export function runSmoke(env: Record<string, string>, timeoutMs = 300_000): Promise<SmokeResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", smokeEntry], {
      env: { ...process.env, ...env, XNN_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: timeoutMs,
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("close", (code, signal) => {
      const line = out.split("\n").find((l) => l.startsWith("SMOKE "));
      if (line) return resolve(JSON.parse(line.slice(6)) as SmokeResult);
      const tail = err.trim().split("\n").slice(-3).join(" | ");
      resolve({
        ok: false,
        error: `the smoke-test process ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${tail ? `: ${tail}` : ""}`,
      });
    });
  });
}

export interface CheckOptions {
  /** `--gpus` as given (0,1 or all); undefined: check the backend a plain `pnpm worker` uses. */
  gpus?: string;
  backend: BackendKind;
  detect?: () => Promise<GpuInfo[]>;
  smoke?: typeof runSmoke;
}

/**
 * What this host will run on and why: GPUs, CUDA libraries, the TensorFlow.js packages, and one
 * training step on each device a worker would use. `ok` is false when a device that was asked for
 * cannot train: with `--gpus`, each listed GPU must train on the tensorflow backend on its GPU.
 */
export async function checkHost(opts: CheckOptions, print: (line: string) => void): Promise<boolean> {
  const gpus = await (opts.detect ?? detectGpus)();
  print("GPUs (nvidia-smi):");
  if (gpus.length === 0) print("  none (nvidia-smi is absent, failed, or lists no GPU)");
  for (const g of gpus) print(`  ${g.index}: ${g.name}, ${g.memoryMiB} MiB`);

  print(
    "CUDA libraries needed by @tensorflow/tfjs-node-gpu 4.x (CUDA 11.x, cuDNN 8), from ldconfig -p and known paths:",
  );
  for (const lib of findLibraries(await ldconfigCache())) {
    const other =
      lib.otherVersions.length > 0 ? ` (found ${lib.otherVersions.join(", ")}: another version)` : "";
    print(`  ${lib.soname.padEnd(20)} ${lib.path ? `found ${lib.path}` : `missing${other}`}  [${lib.what}]`);
  }

  print("TensorFlow.js native packages:");
  for (const name of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    const p = packageStatus(name);
    print(
      `  ${name}: ${
        !p.installed
          ? "not installed"
          : p.binding
            ? `installed, native addon ${p.binding}`
            : "installed without its native addon (its install script could not download libtensorflow; rerun `pnpm install` with network access, or `pnpm rebuild " +
              name +
              "`)"
      }`,
    );
  }

  const smoke = opts.smoke ?? runSmoke;
  let ok = true;
  if (opts.gpus === undefined) {
    print(`Smoke training (XNN_BACKEND=${opts.backend}):`);
    const r = await smoke({ XNN_BACKEND: opts.backend });
    print(`  ${describe(r)}`);
    ok = r.ok;
  } else {
    const wanted =
      opts.gpus === "all" ? gpus.map((g) => g.index) : opts.gpus.split(",").map((s) => Number(s.trim()));
    const backend = opts.backend === "auto" ? "tensorflow" : opts.backend;
    if (wanted.length === 0) {
      print(`--gpus ${opts.gpus}: nvidia-smi found no GPU on this host`);
      // Still say which TensorFlow.js package would load, and why not.
      print(`Backend check (XNN_BACKEND=${backend}, no GPU pinned):`);
      print(`  ${describe(await smoke({ XNN_BACKEND: backend }))}`);
      ok = false;
    }
    for (const index of wanted) {
      if (!Number.isInteger(index) || index < 0) {
        print(`--gpus ${opts.gpus}: expected GPU indices like 0,1 or all`);
        ok = false;
        break;
      }
      print(`Smoke training on GPU ${index} (CUDA_VISIBLE_DEVICES=${index}, XNN_BACKEND=${backend}):`);
      const r = await smoke({ CUDA_VISIBLE_DEVICES: String(index), XNN_BACKEND: backend });
      const onGpu = r.ok && r.device === "gpu";
      print(`  ${describe(r)}${r.ok && !onGpu ? " -- but not on a GPU" : ""}`);
      ok &&= onGpu;
    }
  }
  print(
    ok
      ? "OK: this host can run workers as asked."
      : opts.gpus !== undefined
        ? "FAIL: no GPU backend trains on the GPUs asked for (see above); `pnpm worker --check` without --gpus shows what a plain worker runs on."
        : "FAIL: the backend asked for cannot train here (see above).",
  );
  return ok;
}

function describe(r: SmokeResult): string {
  if (!r.ok) return `failed: ${r.error}`;
  return `${r.backend} on ${r.device.toUpperCase()}: one step in ${r.stepMs} ms, loss ${r.loss.toFixed(3)} (${r.reason})`;
}
