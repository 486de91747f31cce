/**
 * Small seeded PRNG utilities. Everything random in the data pipeline (shuffles, augmentation,
 * synthetic images, splits) goes through here so a seed reproduces a run bit-for-bit; Math.random
 * is never used.
 */

/** 32-bit integer hash (avalanche mixing), used to turn (seed, epoch, index) into stream seeds. */
export function hash32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Combines several integers into one seed. Per-item streams are derived this way so an item's random
 * draws do not depend on decode order or concurrency, only on its identity.
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = hash32(h ^ hash32((p | 0) + 0x632be5ab));
  }
  return h >>> 0;
}

/** Seed from a string (e.g. a file path), for draws that must follow a file rather than its position. */
export function stringSeed(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return hash32(h);
}

/**
 * mulberry32: a one-word seeded generator, uniform on [0, 1). Used where a stream must stay the
 * same across releases (the promotion check's bootstrap resamples, test data); createRng for the
 * data pipeline.
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Integer uniform in [lo, hi] inclusive. */
  int(lo: number, hi: number): number;
  /** Standard normal. */
  normal(): number;
  bool(p?: number): boolean;
}

/**
 * sfc32 (Chris Doty-Humphrey's small fast counting generator): 128-bit state, passes PractRand
 * to large sizes, and needs only 32-bit integer ops, which V8 does fast.
 */
export function createRng(seed: number): Rng {
  let a = hash32(seed ^ 0xa511e9b3);
  let b = hash32(seed ^ 0x63d83595);
  let c = hash32(seed ^ 0x1b873593);
  let d = 1;
  const raw = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Discard the first outputs: with hashed seeds the state is already mixed, but this is the
  // documented warm-up for sfc32 and costs nothing.
  for (let i = 0; i < 12; i++) raw();
  let spare: number | undefined;
  const next = (): number => raw() / 4294967296;
  return {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    normal: () => {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      // Box-Muller; 1 - u keeps log away from 0.
      const u = 1 - next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    bool: (p = 0.5) => next() < p,
  };
}

/** In-place Fisher-Yates shuffle. */
export function shuffleInPlace<T>(arr: T[], rng: Rng): T[] {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const tmp = arr[i] as T;
    arr[i] = arr[j] as T;
    arr[j] = tmp;
  }
  return arr;
}
