import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { faultPoint } from "@xnn/shared";
import { saveCheckpoint } from "../checkpoint/index.js";
import type { ResumeState } from "./types.js";

export const RESUME_DIR = "resume";
const STATE_JSON = "state.json";
const REPORTED_JSON = "reported.json";
const OPT_BIN = "optimizer.bin";
const OPT_JSON = "optimizer.json";
export const RESUME_MODEL_DIR = "model";

/** Canonical JSON (sorted keys) so the hash does not depend on key order in the YAML. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

export function configHash(config: unknown): string {
  return createHash("sha256").update(canonical(config)).digest("hex").slice(0, 16);
}

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(3).toString("hex")}`;
  await fs.writeFile(tmp, `${JSON.stringify(value, null, 1)}\n`);
  await fs.rename(tmp, file);
}

/**
 * Writes model weights, optimizer moments and the loop state for one completed epoch. Built in a
 * temp folder and swapped in, so a crash leaves either the previous epoch's state or this one's.
 */
export async function writeResumeState(
  runDir: string,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  state: Omit<ResumeState, "dir" | "reportedThrough">,
): Promise<void> {
  const finalDir = path.resolve(runDir, RESUME_DIR);
  const tmp = path.resolve(runDir, `.${RESUME_DIR}.tmp-${process.pid}-${randomBytes(3).toString("hex")}`);
  await fs.mkdir(tmp, { recursive: true });
  try {
    await saveCheckpoint(model, path.join(tmp, RESUME_MODEL_DIR));
    const named = await optimizer.getWeights();
    const { data, specs } = await tf.io.encodeWeights(named);
    // Only the iteration scalar is a fresh tensor; the rest are the optimizer's live variables.
    named[0]?.tensor.dispose();
    await fs.writeFile(path.join(tmp, OPT_BIN), new Uint8Array(data));
    await fs.writeFile(
      path.join(tmp, OPT_JSON),
      JSON.stringify({ className: optimizer.getClassName(), specs }),
    );
    await fs.writeFile(path.join(tmp, STATE_JSON), `${JSON.stringify(state, null, 1)}\n`);
    const old = `${finalDir}.old-${process.pid}`;
    if (existsSync(finalDir)) await fs.rename(finalDir, old);
    await faultPoint("resume-swap");
    await fs.rename(tmp, finalDir);
    await fs.rm(old, { recursive: true, force: true });
    // What earlier writers killed mid-write left behind (their temp folders, their ".old" copies)
    // is stale now: an ".old" copy must never outrank this state after a later crash.
    const parent = path.resolve(runDir);
    for (const e of await fs.readdir(parent)) {
      if (e.startsWith(`${RESUME_DIR}.old-`) || e.startsWith(`.${RESUME_DIR}.tmp-`)) {
        if (path.join(parent, e) !== tmp) await fs.rm(path.join(parent, e), { recursive: true, force: true });
      }
    }
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

export async function markReported(runDir: string, epoch: number): Promise<void> {
  await writeJsonAtomic(path.resolve(runDir, `${RESUME_DIR}-${REPORTED_JSON}`), { epoch });
}

/** The resume state of a run directory, or null when no epoch has completed there yet. */
export async function readResumeState(runDir: string): Promise<ResumeState | null> {
  let dir = path.resolve(runDir, RESUME_DIR);
  if (!existsSync(path.join(dir, STATE_JSON))) {
    // A crash between the two renames of writeResumeState leaves only the ".old" copy.
    const parent = path.resolve(runDir);
    const entries = existsSync(parent) ? await fs.readdir(parent) : [];
    // Stale copies are removed by the next complete write, so the newest epoch is the one to take.
    let newest: { dir: string; epoch: number } | null = null;
    for (const e of entries.filter((x) => x.startsWith(`${RESUME_DIR}.old-`))) {
      try {
        const st = JSON.parse(await fs.readFile(path.join(parent, e, STATE_JSON), "utf8")) as {
          epoch: number;
        };
        if (!newest || st.epoch > newest.epoch) newest = { dir: path.join(parent, e), epoch: st.epoch };
      } catch {
        // Incomplete: not a state to resume from.
      }
    }
    if (!newest) return null;
    dir = newest.dir;
  }
  const state = JSON.parse(await fs.readFile(path.join(dir, STATE_JSON), "utf8")) as Omit<
    ResumeState,
    "dir" | "reportedThrough"
  >;
  if (state.version !== 1)
    throw new Error(`unsupported resume state version ${String(state.version)} in ${dir}`);
  let reportedThrough = 0;
  try {
    const r = JSON.parse(
      await fs.readFile(path.resolve(runDir, `${RESUME_DIR}-${REPORTED_JSON}`), "utf8"),
    ) as { epoch: number };
    reportedThrough = r.epoch;
  } catch {
    reportedThrough = 0;
  }
  return { ...state, reportedThrough: Math.min(reportedThrough, state.epoch), dir };
}

/** Restores Adam(W) moments and iteration count saved by writeResumeState. */
export async function restoreOptimizer(optimizer: tf.Optimizer, resumeDir: string): Promise<void> {
  const meta = JSON.parse(await fs.readFile(path.join(resumeDir, OPT_JSON), "utf8")) as {
    className: string;
    specs: tf.io.WeightsManifestEntry[];
  };
  if (meta.className !== optimizer.getClassName()) {
    throw new Error(`resume: optimizer state is for ${meta.className}, not ${optimizer.getClassName()}`);
  }
  const buf = await fs.readFile(path.join(resumeDir, OPT_BIN));
  const map = tf.io.decodeWeights(
    buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer,
    meta.specs,
  );
  // setWeights expects the order getWeights produced (iterations, then m's, then v's).
  await optimizer.setWeights(meta.specs.map((s) => ({ name: s.name, tensor: map[s.name] as tf.Tensor })));
  // The optimizer's variables share data with these tensors by reference count, so ours can go.
  for (const t of Object.values(map)) t.dispose();
}
