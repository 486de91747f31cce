import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetError } from "./errors.js";
import { type ScannedDataset, scanDataset } from "./scan.js";
import { generateSynthetic, renderPhantom, SYNTH_CLASSES, type SynthSummary, synthCounts } from "./synth.js";
import { tempDir } from "./testUtil.js";

let base: string;
let summary: SynthSummary;
let ds: ScannedDataset;

async function gray(file: string): Promise<Buffer> {
  const { data, info } = await sharp(file).toColourspace("b-w").raw().toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(1);
  return data;
}

beforeAll(async () => {
  base = await tempDir("xnn-synth-");
  summary = await generateSynthetic({ out: path.join(base, "a"), n: 80, size: 64, seed: 3 });
  ds = await scanDataset(summary.out);
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("synthCounts", () => {
  it("hits the 47.5 / 27.0 / 25.5 balance exactly for 600 and splits each class 80/10/10", () => {
    const c = synthCounts(600);
    expect(c.bacteria).toEqual([227, 29, 29]);
    expect(c.normal).toEqual([130, 16, 16]);
    expect(c.virus).toEqual([123, 15, 15]);
    for (const n of [24, 97, 600, 1001]) {
      const k = synthCounts(n);
      const totals = SYNTH_CLASSES.map((cls) => k[cls].reduce((a, b) => a + b, 0));
      expect(totals.reduce((a, b) => a + b, 0)).toBe(n);
      expect(Math.abs((totals[0] as number) - 0.475 * n)).toBeLessThanOrEqual(1);
      expect(Math.abs((totals[1] as number) - 0.27 * n)).toBeLessThanOrEqual(1);
      expect(Math.abs((totals[2] as number) - 0.255 * n)).toBeLessThanOrEqual(1);
    }
  });
});

describe("generateSynthetic", () => {
  it("writes a scannable dataset with the planned counts, predict images and a mask per image", async () => {
    expect(ds.classNames).toEqual(["bacteria", "normal", "virus"]);
    const plan = synthCounts(80);
    expect(ds.counts).toEqual({
      train: { bacteria: plan.bacteria[0], normal: plan.normal[0], virus: plan.virus[0] },
      val: { bacteria: plan.bacteria[1], normal: plan.normal[1], virus: plan.virus[1] },
      test: { bacteria: plan.bacteria[2], normal: plan.normal[2], virus: plan.virus[2] },
    });
    const all = [...ds.splits.train, ...ds.splits.val, ...ds.splits.test];
    expect(all.length).toBe(80);
    expect(all.every((i) => i.maskPath !== undefined)).toBe(true);
    for (const cls of SYNTH_CLASSES) {
      expect(await readdir(path.join(summary.out, "predict", cls))).toHaveLength(1);
      expect(await readdir(path.join(summary.out, "masks", "predict", cls))).toHaveLength(1);
    }
    const meta = await sharp(path.join(summary.out, all[0]?.path ?? "")).metadata();
    expect([meta.width, meta.height, meta.channels, meta.format]).toEqual([64, 64, 1, "png"]);
  });

  it("has masks that are non-empty exactly for bacteria and virus", async () => {
    for (const item of [...ds.splits.train, ...ds.splits.test]) {
      const mask = await gray(path.join(summary.out, item.maskPath ?? ""));
      const on = mask.reduce((a, v) => a + (v > 127 ? 1 : 0), 0);
      expect(mask.every((v) => v === 0 || v === 255)).toBe(true);
      if (ds.classNames[item.label] === "normal") expect(on, item.path).toBe(0);
      else expect(on, item.path).toBeGreaterThan(0);
    }
  });

  it("is deterministic for a seed and differs across seeds", async () => {
    const again = await generateSynthetic({ out: path.join(base, "b"), n: 80, size: 64, seed: 3 });
    const other = await generateSynthetic({ out: path.join(base, "c"), n: 80, size: 64, seed: 4 });
    const rel = ds.splits.val.map((i) => i.path).concat(ds.splits.val.map((i) => i.maskPath ?? ""));
    for (const f of rel) {
      expect(
        (await readFile(path.join(again.out, f))).equals(await readFile(path.join(summary.out, f))),
        f,
      ).toBe(true);
    }
    const differs = await Promise.all(
      ds.splits.val.map(
        async (i) =>
          !(await readFile(path.join(other.out, i.path))).equals(
            await readFile(path.join(summary.out, i.path)),
          ),
      ),
    );
    expect(differs.every(Boolean)).toBe(true);
  });

  it("refuses a non-empty output and too small an n", async () => {
    await expect(generateSynthetic({ out: summary.out, n: 80, size: 64 })).rejects.toMatchObject({
      code: "OUTPUT_NOT_EMPTY",
    });
    const err = await generateSynthetic({ out: path.join(base, "tiny"), n: 5, size: 64 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toMatch(/--n 5 is too small.*--n >= \d+/);
  });
});

describe("renderPhantom", () => {
  const size = 64;
  const seeds = Array.from({ length: 40 }, (_, i) => 1000 + i);

  function stats(cls: (typeof SYNTH_CLASSES)[number], seed: number) {
    const p = renderPhantom(cls, size, seed);
    let outside = 0;
    let left = 0;
    let right = 0;
    let inMean = 0;
    let lungMean = 0;
    let nIn = 0;
    let nLung = 0;
    for (let i = 0; i < size * size; i++) {
      if (p.mask[i]) {
        if (!p.lungMask[i]) outside++;
        if (i % size < size / 2) left++;
        else right++;
        inMean += p.image[i] as number;
        nIn++;
      } else if (p.lungMask[i]) {
        lungMean += p.image[i] as number;
        nLung++;
      }
    }
    return { p, outside, left, right, lesion: nIn ? inMean / nIn : 0, lung: lungMean / nLung, n: nIn };
  }

  it("puts lesions only inside the lungs: bacteria in one lung, virus in both, none for normal", () => {
    for (const seed of seeds) {
      const b = stats("bacteria", seed);
      expect(b.outside).toBe(0);
      expect(b.n).toBeGreaterThan(0);
      // One lung only, the one it reports.
      expect(Math.min(b.left, b.right)).toBe(0);
      expect(b.p.side).toBe(b.left > 0 ? "left" : "right");

      const v = stats("virus", seed);
      expect(v.outside).toBe(0);
      expect(v.left).toBeGreaterThan(0);
      expect(v.right).toBeGreaterThan(0);

      const n = stats("normal", seed);
      expect(n.n).toBe(0);
      expect(n.p.lungMask.some((x) => x === 1)).toBe(true);
    }
  });

  it("makes lesions brighter than the surrounding lung, with varied contrast", () => {
    for (const cls of ["bacteria", "virus"] as const) {
      const deltas = seeds.map((s) => {
        const st = stats(cls, s);
        return st.lesion - st.lung;
      });
      const mean = deltas.reduce((a, b) => a + b, 0) / deltas.length;
      expect(mean, cls).toBeGreaterThan(5);
      // Not one fixed contrast: the faintest lesions are well below the average.
      expect(Math.min(...deltas), cls).toBeLessThan(0.8 * mean);
    }
  });

  it("is deterministic in (class, size, seed)", () => {
    expect(renderPhantom("virus", 48, 9).image).toEqual(renderPhantom("virus", 48, 9).image);
    expect(renderPhantom("virus", 48, 9).image).not.toEqual(renderPhantom("virus", 48, 10).image);
  });
});
