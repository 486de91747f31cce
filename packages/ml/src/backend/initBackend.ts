import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import type { BackendKind } from "@xnn/shared";
import { installKernels } from "./kernels/index.js";

export type { BackendKind };
export type BackendLog = (msg: string, fields: Record<string, unknown>) => void;
export interface BackendChoice {
  backend: string;
  reason: string;
  /** Where the kernels run: "gpu" only for tfjs-node-gpu with a CUDA device libtensorflow accepted. */
  device: "gpu" | "cpu";
}

const require = createRequire(import.meta.url);

// Held as variables so neither TypeScript nor the bundler tries to resolve
// packages that are normally absent on this machine.
const TFJS_NODE_GPU: string = "@tensorflow/tfjs-node-gpu";
const TFJS_NODE: string = "@tensorflow/tfjs-node";

const WASM_BINARIES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
] as const;

let wasmPathsSet = false;
const inFlight = new Map<BackendKind, Promise<BackendChoice>>();
const settled = new Map<BackendKind, BackendChoice>();

let initCount = 0;

/**
 * How many times this thread chose and initialised a backend (re-applying a settled choice does
 * not count). A long-lived training thread reports it so a test can see the backend loaded once.
 */
export function backendInitCount(): number {
  return initCount;
}

/** The first line: tfjs-node's load errors go on with a paragraph of advice about Windows. */
function errMsg(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0]!.trim();
}

function canResolve(spec: string): boolean {
  try {
    require.resolve(spec);
    return true;
  } catch {
    return false;
  }
}

/**
 * Loading tfjs-node-gpu on a host without a driver pulls in libcudart and
 * either aborts or silently runs on CPU, so look for a device node first.
 */
function cudaDevicePresent(): boolean {
  try {
    if (existsSync("/proc/driver/nvidia/gpus") && readdirSync("/proc/driver/nvidia/gpus").length > 0) {
      return true;
    }
  } catch {
    // unreadable procfs: fall through to the device-node check
  }
  return existsSync("/dev/nvidia0");
}

async function trySetBackend(name: string): Promise<boolean> {
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return false;
    await tf.ready();
    // A backend whose factory succeeded can still fail on first use (e.g.
    // missing shared libraries are resolved lazily), so run one op.
    const probe = tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)));
    const v = (await probe.data())[0];
    probe.dispose();
    return v === 2 && tf.getBackend() === name;
  } catch {
    return false;
  }
}

type Attempt = { ok: boolean; why: string; device?: "gpu" | "cpu" };

async function tryNodeGpu(): Promise<Attempt> {
  if (!canResolve(TFJS_NODE_GPU)) return { ok: false, why: `${TFJS_NODE_GPU} is not installed` };
  if (!cudaDevicePresent())
    return { ok: false, why: `${TFJS_NODE_GPU} is installed but no CUDA device was found` };
  try {
    await import(TFJS_NODE_GPU);
  } catch (e) {
    return { ok: false, why: `${TFJS_NODE_GPU} failed to load: ${errMsg(e)}` };
  }
  if (!(await trySetBackend("tensorflow"))) {
    return { ok: false, why: `${TFJS_NODE_GPU} loaded but the tensorflow backend did not initialise` };
  }
  const b = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  if (b.isUsingGpuDevice === false) {
    return { ok: false, why: `${TFJS_NODE_GPU} loaded but libtensorflow reports no usable GPU` };
  }
  return { ok: true, why: `${TFJS_NODE_GPU} with a CUDA device`, device: "gpu" };
}

async function tryNode(): Promise<Attempt> {
  if (!canResolve(TFJS_NODE)) return { ok: false, why: `${TFJS_NODE} is not installed` };
  try {
    await import(TFJS_NODE);
  } catch (e) {
    return { ok: false, why: `${TFJS_NODE} failed to load: ${errMsg(e)}` };
  }
  if (!(await trySetBackend("tensorflow"))) {
    return { ok: false, why: `${TFJS_NODE} loaded but the tensorflow backend did not initialise` };
  }
  return { ok: true, why: `${TFJS_NODE} (libtensorflow on CPU)` };
}

function ensureWasmPaths(): void {
  if (wasmPathsSet) return;
  // A file map of absolute paths works whatever the process cwd is; the
  // default (relative to the bundle URL) breaks under tsx and vitest.
  const map: Record<string, string> = {};
  for (const name of WASM_BINARIES) {
    map[name] = require.resolve(`@tensorflow/tfjs-backend-wasm/dist/${name}`);
  }
  try {
    setWasmPaths(map);
  } catch {
    // setWasmPaths throws only once the backend has already initialised,
    // which means paths were good enough already.
  }
  wasmPathsSet = true;
}

async function tryWasm(): Promise<Attempt> {
  try {
    ensureWasmPaths();
  } catch (e) {
    return { ok: false, why: `wasm binaries not found: ${errMsg(e)}` };
  }
  if (!(await trySetBackend("wasm"))) return { ok: false, why: "wasm backend failed to initialise" };
  const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
  const threads = getThreadsCount();
  return {
    ok: true,
    why: `tfjs-backend-wasm (${simd ? "SIMD" : "no SIMD"}, ${threads} thread${threads === 1 ? "" : "s"}) with conv-gradient and training kernels added`,
  };
}

async function choose(kind: BackendKind, log: BackendLog): Promise<BackendChoice> {
  const skipped: string[] = [];
  const attempt = async (name: string, fn: () => Promise<Attempt>): Promise<BackendChoice | undefined> => {
    const r = await fn();
    if (r.ok) return { backend: name, reason: r.why, device: r.device ?? "cpu" };
    skipped.push(r.why);
    log("backend candidate skipped", { candidate: name, why: r.why });
    return undefined;
  };
  const withSkips = (c: BackendChoice): BackendChoice =>
    skipped.length === 0 ? c : { ...c, reason: `${c.reason}; skipped: ${skipped.join("; ")}` };

  switch (kind) {
    case "tensorflow": {
      const c = (await attempt("tensorflow", tryNodeGpu)) ?? (await attempt("tensorflow", tryNode));
      if (c) return withSkips(c);
      throw new Error(
        `backend "tensorflow" requested but neither ${TFJS_NODE_GPU} nor ${TFJS_NODE} is usable (${skipped.join(
          "; ",
        )}). Install one of them on a host that can download libtensorflow, or use backend "wasm".`,
      );
    }
    case "wasm": {
      const c = await attempt("wasm", tryWasm);
      if (c) return c;
      throw new Error(`backend "wasm" requested but it failed: ${skipped.join("; ")}`);
    }
    case "cpu": {
      if (await trySetBackend("cpu"))
        return { backend: "cpu", reason: "requested explicitly", device: "cpu" };
      throw new Error('backend "cpu" failed to initialise');
    }
    case "auto": {
      const c =
        (await attempt("tensorflow", tryNodeGpu)) ??
        (await attempt("tensorflow", tryNode)) ??
        (await attempt("wasm", tryWasm));
      if (c) return withSkips(c);
      if (await trySetBackend("cpu"))
        return withSkips({ backend: "cpu", reason: "pure-JS fallback (slow)", device: "cpu" });
      throw new Error(`no TensorFlow.js backend could be initialised: ${skipped.join("; ")}`);
    }
  }
}

/**
 * Select and initialise a TensorFlow.js backend, and install this package's kernels and gradients
 * for it (installKernels: nothing else registers any). Safe to call repeatedly:
 * a settled choice is re-applied (cheap) rather than re-probed, because
 * other code may have switched backends in between.
 */
export async function initBackend(kind: BackendKind, log?: BackendLog): Promise<BackendChoice> {
  const logger: BackendLog = log ?? (() => {});
  const done = settled.get(kind);
  if (done) {
    if (tf.getBackend() !== done.backend) await tf.setBackend(done.backend);
    await tf.ready();
    return done;
  }
  let p = inFlight.get(kind);
  if (!p) {
    initCount++;
    p = choose(kind, logger).then((choice) => {
      installKernels(choice.backend);
      return choice;
    });
    inFlight.set(kind, p);
  }
  try {
    const choice = await p;
    settled.set(kind, choice);
    logger("backend selected", { requested: kind, backend: choice.backend, reason: choice.reason });
    return choice;
  } finally {
    inFlight.delete(kind);
  }
}

/** The device the current backend computes on, as settled by initBackend; "cpu" when unknown. */
export function currentDevice(): "gpu" | "cpu" {
  const name = tf.getBackend();
  for (const c of settled.values()) if (c.backend === name) return c.device;
  return "cpu";
}

/**
 * What ran out of memory, in words that name the backend and the device: each has its own limit
 * and its own remedy, and a GPU's OOM blamed on "the wasm heap" sends a user the wrong way.
 */
export function describeMemoryLimit(): string {
  const name = tf.getBackend();
  if (name === "tensorflow" && currentDevice() === "gpu") {
    const visible = process.env.CUDA_VISIBLE_DEVICES;
    return `GPU out of memory on device 0${visible ? ` (CUDA_VISIBLE_DEVICES=${visible})` : ""}`;
  }
  if (name === "tensorflow") return "host memory exhausted (tensorflow backend on CPU)";
  if (name === "wasm") return "wasm heap exhausted (the wasm backend's heap is capped at 4 GB)";
  return `memory exhausted (${name} backend on CPU)`;
}

/** wasm's heap: 32-bit addresses, capped at 4 GiB by the tfjs-backend-wasm build. */
const WASM_HEAP_BYTES = 4 * 2 ** 30;

/** Total memory of the first visible CUDA device, from nvidia-smi; null when it cannot be read. */
function gpuMemoryBytes(): number | null {
  const first = process.env.CUDA_VISIBLE_DEVICES?.split(",")[0]?.trim() || "0";
  const r = spawnSync(
    "nvidia-smi",
    ["--query-gpu=memory.total", "--format=csv,noheader,nounits", "-i", first],
    {
      encoding: "utf8",
      timeout: 10_000,
    },
  );
  const mib = r.status === 0 ? Number.parseFloat(r.stdout.trim().split("\n")[0] ?? "") : Number.NaN;
  return Number.isFinite(mib) && mib > 0 ? mib * 2 ** 20 : null;
}

/**
 * How much memory the current backend's tensors can use at most, where that is known: wasm's 4 GiB
 * heap, the GPU's memory for tfjs-node-gpu (from nvidia-smi), the host's memory for the CPU
 * backends. null when the backend computes on a device whose size cannot be read.
 */
export function backendMemoryLimit(): { bytes: number; what: string } | null {
  const name = tf.getBackend();
  if (name === "wasm") return { bytes: WASM_HEAP_BYTES, what: "wasm heap" };
  if (name === "tensorflow" && currentDevice() === "gpu") {
    const bytes = gpuMemoryBytes();
    return bytes === null ? null : { bytes, what: "GPU memory" };
  }
  return { bytes: os.totalmem(), what: "host memory" };
}
