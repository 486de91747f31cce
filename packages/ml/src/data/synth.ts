import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { DatasetError } from "./errors.js";
import { abortOutput, apportion, commitOutput, prepareOutput, splitCounts } from "./output.js";
import { encodeGrayPng } from "./png.js";
import { createRng, hash32, mixSeed, type Rng } from "./prng.js";
import { MASKS_DIR, SPLITS, type SplitName } from "./scan.js";

/**
 * Synthetic chest-X-ray-like phantoms. No real data can be downloaded here, so tests, benches and
 * smoke runs of the whole pipeline (training, metrics, Integrated Gradients against lesion masks) run on
 * these. The classes differ only by a lesion whose contrast ranges from obvious to subtle, so a
 * model has to look inside the lungs, which is exactly what the explanation masks check.
 */

export const SYNTH_CLASSES = ["bacteria", "normal", "virus"] as const;
/**
 * Written to synth.json; bumped whenever the same (n, size, seed) would render different images.
 * v2: larger, denser consolidations and a stronger viral haze (v1 was not learnable from scratch).
 */
export const SYNTH_GENERATOR = "xnn-synth-v2";
export type SynthClass = (typeof SYNTH_CLASSES)[number];
/** Class balance of the original chest-X-ray data set this project was built for. */
export const SYNTH_BALANCE: Record<SynthClass, number> = { bacteria: 0.475, normal: 0.27, virus: 0.255 };

export interface Phantom {
  size: number;
  /** size*size grayscale bytes. */
  image: Uint8Array;
  /** size*size, 1 where the lesion is. All zero for "normal". */
  mask: Uint8Array;
  /** size*size, 1 inside either lung field (where lesions may appear). */
  lungMask: Uint8Array;
  /** For bacteria: which lung holds the consolidation (image left/right). */
  side?: "left" | "right";
}

// --- value noise -----------------------------------------------------------------------------

function lattice(ix: number, iy: number, seed: number): number {
  return hash32((Math.imul(ix, 0x27d4eb2d) ^ Math.imul(iy, 0x165667b1) ^ seed) >>> 0) / 4294967296;
}

/** Smooth value noise in [0,1): cheap, seeded, and enough for irregular lesion texture. */
function valueNoise(x: number, y: number, seed: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const sx = fx * fx * (3 - 2 * fx);
  const sy = fy * fy * (3 - 2 * fy);
  const a = lattice(x0, y0, seed);
  const b = lattice(x0 + 1, y0, seed);
  const c = lattice(x0, y0 + 1, seed);
  const d = lattice(x0 + 1, y0 + 1, seed);
  return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
}

/** Compact-support bump (1 - d^2)^2: looks like a Gaussian profile at a fraction of exp's cost. */
function bump(d: number): number {
  const d2 = d * d;
  return d2 < 1 ? (1 - d2) * (1 - d2) : 0;
}

/**
 * Fixed table of standard normals for pixel noise; Box-Muller per pixel dominated render time.
 * Each image reads it with its own seeded offset and odd stride, so noise still differs per image.
 */
const NORMAL_TABLE_BITS = 16;
const NORMAL_TABLE = (() => {
  const r = createRng(0x6e6f6973);
  const t = new Float32Array(1 << NORMAL_TABLE_BITS);
  for (let i = 0; i < t.length; i++) t[i] = r.normal();
  return t;
})();

function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

// --- anatomy ---------------------------------------------------------------------------------

interface Blob {
  u: number;
  v: number;
  s2: number;
  w: number;
}

interface Lung {
  cu: number;
  cv: number;
  ru: number;
  rv: number;
}

/** Signed "superellipse radius": < 1 inside. The exponent squares off the lung bases like a diaphragm. */
function lungRadius(l: Lung, u: number, v: number): number {
  const du = Math.abs(u - l.cu) / l.ru;
  const dv = (v - l.cv) / l.rv;
  // Bases (dv > 0) are flatter than apices, as in a real PA film.
  const pv = dv > 0 ? dv * dv * dv : dv * dv;
  return Math.sqrt(du * du + pv);
}

/** Every per-image random choice; sampled once, then read by the per-row shader. */
interface Scene {
  isBacteria: boolean;
  hasLesion: boolean;
  size: number;
  noiseSeed: number;
  cosR: number;
  sinR: number;
  scale: number;
  tx: number;
  ty: number;
  lungL: Lung;
  lungR: Lung;
  heartU: number;
  heartV: number;
  heartRu: number;
  heartRv: number;
  ribStart: number;
  ribStep: number;
  ribCurve: number;
  ribT: number;
  bg: number;
  tissue: number;
  lungVal: number;
  hilaLU: number;
  hilaLV: number;
  hilaRU: number;
  hilaRV: number;
  blobs: Blob[];
  lesionContrast: number;
  reticFreq: number;
}

function sampleScene(
  cls: SynthClass,
  size: number,
  seed: number,
  rng: Rng,
): { scene: Scene; side?: "left" | "right" } {
  const rot = rng.uniform(-4, 4) * (Math.PI / 180);
  const lungW = rng.uniform(0.26, 0.32);
  const lungH = rng.uniform(0.55, 0.66);
  const scene: Scene = {
    isBacteria: cls === "bacteria",
    hasLesion: cls !== "normal",
    size,
    noiseSeed: hash32(seed ^ 0x51ed),
    cosR: Math.cos(rot),
    sinR: Math.sin(rot),
    scale: rng.uniform(0.88, 1.04),
    tx: rng.uniform(-0.06, 0.06),
    ty: rng.uniform(-0.05, 0.05),
    lungL: {
      cu: -rng.uniform(0.37, 0.43),
      cv: rng.uniform(-0.1, 0.0),
      ru: lungW * rng.uniform(0.95, 1.05),
      rv: lungH,
    },
    lungR: {
      cu: rng.uniform(0.37, 0.43),
      cv: rng.uniform(-0.1, 0.0),
      ru: lungW * rng.uniform(0.9, 1.0),
      rv: lungH * 0.97,
    },
    heartU: rng.uniform(0.1, 0.16),
    heartV: rng.uniform(0.3, 0.38),
    heartRu: rng.uniform(0.3, 0.36),
    heartRv: rng.uniform(0.22, 0.28),
    ribStart: rng.uniform(-0.8, -0.72),
    ribStep: rng.uniform(0.15, 0.18),
    ribCurve: rng.uniform(0.8, 1.1),
    ribT: rng.uniform(0.028, 0.04),
    bg: rng.uniform(0.03, 0.1),
    tissue: rng.uniform(0.38, 0.46),
    lungVal: rng.uniform(0.12, 0.2),
    hilaLU: -rng.uniform(0.16, 0.22),
    hilaLV: rng.uniform(-0.08, 0.05),
    hilaRU: rng.uniform(0.16, 0.22),
    hilaRV: rng.uniform(-0.08, 0.05),
    blobs: [],
    lesionContrast: 0,
    reticFreq: rng.uniform(14, 22),
  };
  let side: "left" | "right" | undefined;
  if (cls === "bacteria") {
    const li = rng.int(0, 1);
    side = li === 0 ? "left" : "right";
    const lung = li === 0 ? scene.lungL : scene.lungR;
    // Upper, middle or lower lobe region, kept well inside the lung so the blob stays in it.
    const lobe = rng.int(0, 2);
    const lobeV = lobe === 0 ? -0.5 : lobe === 1 ? 0 : 0.4;
    const cv = lung.cv + lung.rv * (lobeV + rng.uniform(-0.08, 0.08));
    const cu = lung.cu + rng.uniform(-0.3, 0.3) * lung.ru;
    const k = rng.int(3, 6);
    for (let i = 0; i < k; i++) {
      const s = rng.uniform(0.08, 0.15);
      scene.blobs.push({
        u: cu + rng.normal() * 0.05,
        v: cv + rng.normal() * 0.05,
        s2: 2 * s * s,
        w: rng.uniform(0.6, 1),
      });
    }
    scene.lesionContrast = rng.uniform(0.2, 0.45);
  } else if (cls === "virus") {
    // Broad patches in both lungs guarantee a bilateral pattern; noise breaks them up.
    for (const lung of [scene.lungL, scene.lungR]) {
      const k = rng.int(2, 3);
      for (let i = 0; i < k; i++) {
        const s = rng.uniform(0.15, 0.25);
        scene.blobs.push({
          u: lung.cu + rng.uniform(-0.35, 0.35) * lung.ru,
          v: lung.cv + rng.uniform(-0.45, 0.5) * lung.rv,
          s2: 2 * s * s,
          w: rng.uniform(0.8, 1.2),
        });
      }
    }
    scene.lesionContrast = rng.uniform(0.15, 0.3);
  }
  return side ? { scene, side } : { scene };
}

/**
 * Shades one image row. Kept as a small function called once per row (rather than one big
 * nested loop) so V8 optimises it with full type feedback; the monolithic version kept
 * deoptimising after on-stack replacement and ran ~5x slower.
 */
function shadeRow(
  s: Scene,
  py: number,
  base: Float32Array,
  lesionAdd: Float32Array,
  mask: Uint8Array,
  lungMask: Uint8Array,
): void {
  const size = s.size;
  const inv = 2 / size;
  const y = (py + 0.5) * inv - 1 - s.ty;
  const blobs = s.blobs;
  for (let px = 0; px < size; px++) {
    const x = (px + 0.5) * inv - 1 - s.tx;
    // Canonical anatomy coordinates: undo the pose (rotate, then scale).
    const u = (s.cosR * x + s.sinR * y) / s.scale;
    const v = (-s.sinR * x + s.cosR * y) / s.scale;
    const i = py * size + px;

    const bu = u / 0.9;
    const bv = (v - 0.12) / 1.08;
    const body = 1 - smoothstep(0.94, 1.0, Math.sqrt(bu * bu + bv * bv));
    let val = s.bg + (s.tissue - s.bg) * body;

    const rl = lungRadius(s.lungL, u, v);
    const rr = lungRadius(s.lungR, u, v);
    const rmin = Math.min(rl, rr);
    const lungEdge = 1 - smoothstep(0.9, 1.0, rmin);
    const hu = (u - s.heartU) / s.heartRu;
    const hv = (v - s.heartV) / s.heartRv;
    const heartR = Math.sqrt(hu * hu + hv * hv);
    const heartIn = 1 - smoothstep(0.9, 1.05, heartR);
    const medR = Math.abs(u) / 0.11;
    const mediastinum = (1 - smoothstep(0.85, 1.05, medR)) * body;
    const lungAmt = lungEdge * (1 - heartIn) * (1 - mediastinum);
    // Air is darkest in the middle of each lung field.
    val += (s.lungVal - s.tissue) * lungAmt * (1 - 0.25 * (rmin < 1 ? 1 - rmin : 0));
    val += 0.12 * heartIn * body;
    // Spine inside the mediastinum, with vertebral banding.
    if (mediastinum > 0) val += mediastinum * (0.16 + 0.05 * Math.cos(v * Math.PI * 9));

    // Hilar vessels appear in every class: a confounder so "anything bright in a lung" is not the cue.
    if (lungAmt > 0) {
      const dl = (u - s.hilaLU) * (u - s.hilaLU) + (v - s.hilaLV) * (v - s.hilaLV);
      const dr = (u - s.hilaRU) * (u - s.hilaRU) + (v - s.hilaRV) * (v - s.hilaRV);
      const d2 = Math.min(dl, dr);
      if (d2 < 0.04) val += 0.07 * bump(Math.sqrt(d2) / 0.2) * lungAmt;
    }

    // Posterior ribs: parabolic arcs from the spine outwards, plus clavicles.
    const au = Math.abs(u);
    if (au > 0.1 && au < 0.88 && body > 0.5) {
      const du = au - 0.12;
      const ribV = v + 0.08 * du - s.ribCurve * du * du;
      const k = Math.round((ribV - s.ribStart) / s.ribStep);
      if (k >= 0 && k <= 8) {
        const d = (ribV - (s.ribStart + k * s.ribStep)) / s.ribT;
        val += 0.11 * bump(d / 1.6) * body;
      }
      if (au < 0.62) val += 0.12 * bump((v + 0.84 - 0.12 * (au - 0.1)) / 0.048);
    }
    base[i] = val;

    const inLung = rmin < 0.97 && heartR > 1.0 && medR > 1.0;
    if (!inLung) continue;
    lungMask[i] = 1;
    if (!s.hasLesion) continue;
    let f = 0;
    for (let b = 0; b < blobs.length; b++) {
      const bl = blobs[b] as Blob;
      const q = ((u - bl.u) * (u - bl.u) + (v - bl.v) * (v - bl.v)) / bl.s2;
      // Beyond ~3 sigma a blob contributes < 1%: skip the exp.
      if (q < 4.5) f += bl.w * Math.exp(-q);
    }
    if (s.isBacteria) {
      if (f < 0.2) continue;
      // Irregular border: noise perturbs the density before thresholding.
      f *= 0.7 + 0.6 * valueNoise(u * 10, v * 10, s.noiseSeed);
      lesionAdd[i] = s.lesionContrast * smoothstep(0.3, 0.75, f);
      if (f > 0.45) mask[i] = 1;
    } else {
      if (f < 0.25) continue;
      const env = smoothstep(0.35, 0.8, f * (0.6 + 0.8 * valueNoise(u * 4, v * 4, s.noiseSeed)));
      // Ridged noise gives thin bright lines: an interstitial (reticular) texture, not a blob.
      const r = 1 - Math.abs(2 * valueNoise(u * s.reticFreq, v * s.reticFreq, s.noiseSeed ^ 0x9e37) - 1);
      lesionAdd[i] = s.lesionContrast * env * (0.6 + 0.4 * r * r * r);
      if (env > 0.5) mask[i] = 1;
    }
  }
}

/** [1,2,1]/4 along a row. */
function blurRowH(src: Float32Array, dst: Float32Array, r: number, size: number): void {
  for (let x = 0; x < size; x++) {
    const l = src[r + (x > 0 ? x - 1 : 0)] as number;
    const rt = src[r + (x < size - 1 ? x + 1 : x)] as number;
    dst[r + x] = 0.25 * l + 0.5 * (src[r + x] as number) + 0.25 * rt;
  }
}

/** [1,2,1]/4 across rows, for row y. */
function blurRowV(src: Float32Array, dst: Float32Array, y: number, size: number): void {
  const up = (y > 0 ? y - 1 : 0) * size;
  const dn = (y < size - 1 ? y + 1 : y) * size;
  const r = y * size;
  for (let x = 0; x < size; x++) {
    dst[r + x] =
      0.25 * (src[up + x] as number) + 0.5 * (src[r + x] as number) + 0.25 * (src[dn + x] as number);
  }
}

function finishRow(
  blurred: Float32Array,
  lesionAdd: Float32Array,
  image: Uint8Array,
  r: number,
  size: number,
  contrast: number,
  offset: number,
  noiseSigma: number,
  tStart: number,
  tStride: number,
): void {
  const m = (1 << NORMAL_TABLE_BITS) - 1;
  for (let x = 0; x < size; x++) {
    const i = r + x;
    const z = NORMAL_TABLE[(tStart + i * tStride) & m] as number;
    const val = ((blurred[i] as number) + (lesionAdd[i] as number)) * contrast + offset + noiseSigma * z;
    const b = Math.round(val * 255);
    image[i] = b < 0 ? 0 : Math.min(b, 255);
  }
}

/** Renders one phantom. Deterministic in (cls, size, seed). */
export function renderPhantom(cls: SynthClass, size: number, seed: number): Phantom {
  const rng = createRng(seed);
  const { scene, side } = sampleScene(cls, size, seed, rng);
  const contrast = rng.uniform(0.8, 1.2);
  const brightness = rng.uniform(-0.06, 0.06);
  const noiseSigma = rng.uniform(0.01, 0.035);
  const tStart = rng.int(0, (1 << NORMAL_TABLE_BITS) - 1);
  const tStride = rng.int(0, 1 << 12) * 2 + 1;

  const n = size * size;
  const base = new Float32Array(n);
  const tmp = new Float32Array(n);
  const lesionAdd = new Float32Array(n);
  const mask = new Uint8Array(n);
  const lungMask = new Uint8Array(n);
  for (let py = 0; py < size; py++) shadeRow(scene, py, base, lesionAdd, mask, lungMask);

  // Slight blur softens the analytic edges like a real detector's point-spread. Lesions are added
  // after it so mask edges stay where the lesion is.
  for (let pass = 0; pass < 2; pass++) {
    for (let y = 0; y < size; y++) blurRowH(base, tmp, y * size, size);
    for (let y = 0; y < size; y++) blurRowV(tmp, base, y, size);
  }
  const image = new Uint8Array(n);
  const offset = 0.35 - 0.35 * contrast + brightness;
  for (let y = 0; y < size; y++) {
    finishRow(base, lesionAdd, image, y * size, size, contrast, offset, noiseSigma, tStart, tStride);
  }
  const phantom: Phantom = { size, image, mask, lungMask };
  if (side) phantom.side = side;
  return phantom;
}

// --- data set writer -------------------------------------------------------------------------

export interface SynthOptions {
  out: string;
  /** Images across train/val/test (the predict/ images come on top). */
  n: number;
  size: number;
  seed?: number;
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface SynthSummary {
  out: string;
  counts: Record<SplitName, Record<SynthClass, number>>;
  /** Paths relative to `out`. */
  predict: string[];
  elapsedMs: number;
}

interface Job {
  cls: SynthClass;
  split: SplitName | "predict";
  name: string;
  seed: number;
}

export function synthCounts(n: number): Record<SynthClass, [number, number, number]> {
  const perClass = apportion(
    n,
    SYNTH_CLASSES.map((c) => SYNTH_BALANCE[c]),
  );
  const out = {} as Record<SynthClass, [number, number, number]>;
  SYNTH_CLASSES.forEach((c, i) => {
    out[c] = splitCounts(perClass[i] as number);
  });
  return out;
}

/**
 * Writes `<out>/{train,val,test}/<class>/*.png`, `<out>/predict/<class>/*.png` and each image's
 * mask under `<out>/masks/<split>/<class>/`. Output is a pure function of (n, size, seed).
 */
export async function generateSynthetic(opts: SynthOptions): Promise<SynthSummary> {
  const started = performance.now();
  const { n, size } = opts;
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(n) || n < 1)
    throw new DatasetError("BAD_ARGUMENT", opts.out, `--n must be a positive integer, got ${n}`);
  if (!Number.isInteger(size) || size < 16 || size > 2048) {
    throw new DatasetError("BAD_ARGUMENT", opts.out, `--size must be an integer in [16, 2048], got ${size}`);
  }
  const plan = synthCounts(n);
  const fits = (m: number) => SYNTH_CLASSES.every((c) => synthCounts(m)[c].every((k) => k >= 1));
  for (const c of SYNTH_CLASSES) {
    if (plan[c].some((k) => k < 1)) {
      let minN = n;
      while (!fits(minN)) minN++;
      throw new DatasetError(
        "BAD_ARGUMENT",
        opts.out,
        `--n ${n} is too small: class ${c} would get ${plan[c].join("/")} train/val/test images (every split needs >= 1; use --n >= ${minN})`,
      );
    }
  }

  const jobs: Job[] = [];
  const counts = {} as SynthSummary["counts"];
  for (const s of SPLITS) counts[s] = {} as Record<SynthClass, number>;
  SYNTH_CLASSES.forEach((cls, ci) => {
    let k = 0;
    SPLITS.forEach((split, si) => {
      const m = plan[cls][si] as number;
      counts[split][cls] = m;
      for (let j = 0; j < m; j++, k++) {
        jobs.push({
          cls,
          split,
          name: `${cls}-${String(k).padStart(4, "0")}.png`,
          seed: mixSeed(seed, ci, k),
        });
      }
    });
    jobs.push({ cls, split: "predict", name: `${cls}-predict.png`, seed: mixSeed(seed, ci, 0x7ffff) });
  });

  const { out, tmp } = await prepareOutput(opts.out, opts.force ?? false);
  try {
    for (const s of [...SPLITS, "predict"]) {
      for (const c of SYNTH_CLASSES) {
        await mkdir(path.join(tmp, s, c), { recursive: true });
        await mkdir(path.join(tmp, MASKS_DIR, s, c), { recursive: true });
      }
    }
    // Rendering is synchronous JS; PNG encoding and writes go to the libuv pool, so keep a few in
    // flight to overlap them with rendering the next image.
    const inflight = new Set<Promise<void>>();
    let done = 0;
    for (const job of jobs) {
      const ph = renderPhantom(job.cls, size, job.seed);
      const maskBytes = new Uint8Array(ph.mask.length);
      for (let i = 0; i < maskBytes.length; i++) maskBytes[i] = ph.mask[i] ? 255 : 0;
      const p = (async () => {
        const [img, msk] = await Promise.all([
          encodeGrayPng(ph.image, size, size),
          encodeGrayPng(maskBytes, size, size),
        ]);
        await Promise.all([
          writeFile(path.join(tmp, job.split, job.cls, job.name), img),
          writeFile(path.join(tmp, MASKS_DIR, job.split, job.cls, job.name), msk),
        ]);
        done++;
        opts.onProgress?.(done, jobs.length);
      })();
      inflight.add(p);
      void p.finally(() => inflight.delete(p)).catch(() => {});
      if (inflight.size >= 8) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    const summary: SynthSummary = {
      out,
      counts,
      predict: jobs.filter((j) => j.split === "predict").map((j) => `predict/${j.cls}/${j.name}`),
      elapsedMs: 0,
    };
    await writeFile(
      path.join(tmp, "synth.json"),
      `${JSON.stringify({ generator: SYNTH_GENERATOR, seed, n, size, balance: SYNTH_BALANCE, counts, predict: summary.predict }, null, 2)}\n`,
    );
    await commitOutput(tmp, out);
    summary.elapsedMs = performance.now() - started;
    return summary;
  } catch (err) {
    await abortOutput(tmp);
    throw err;
  }
}
