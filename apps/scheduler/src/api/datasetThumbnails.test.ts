import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { registerDatasetVersion } from "@xnn/db";
import { describeDataset, generateSynthetic } from "@xnn/ml";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { type Harness, useApiHarness } from "./testing/harness";

let tmp: string;
let versionId: string;
let outsideVersion: string;
let masked: { path: string; maskPath: string };

const h = useApiHarness({
  seed: seedSynthVersions,
  server: () => ({ dataRoots: [path.join(tmp, "roots")], thumbnailDir: path.join(tmp, "thumbnails") }),
  serverPer: "file",
});

/** A synthetic data set registered twice: under a root the API may read, and under one it may not. */
async function seedSynthVersions({ sql }: Harness) {
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-thumbs-"));
  const data = path.join(tmp, "roots", "synth");
  await generateSynthetic({ out: data, n: 30, size: 96, seed: 4 });
  const description = await describeDataset(data);
  versionId = (await registerDatasetVersion(sql, description, "data:synth")).versionId;
  const m = description.images.find((im) => im.maskPath && im.split === "test")!;
  masked = { path: m.path, maskPath: m.maskPath! };
  // The same files registered under a root the API may not read.
  outsideVersion = (
    await registerDatasetVersion(sql, { ...description, root: "/srv/elsewhere" }, "data:synth")
  ).versionId;
}

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const get = (url: string) =>
  h
    .as("viewer")
    .get(url)
    .buffer(true)
    .parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => done(null, Buffer.concat(chunks)));
    });

/** How much redder than green the reddest pixel is. */
async function maxRedExcess(jpeg: Buffer): Promise<number> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  let max = 0;
  for (let i = 0; i < info.width * info.height; i++) {
    max = Math.max(max, data[i * info.channels]! - data[i * info.channels + 1]!);
  }
  return max;
}

describe("data set thumbnails", () => {
  it("serves a JPEG fitted to the size, cached on disk after the first request", async () => {
    const url = `/api/dataset-versions/${versionId}/thumbnail?path=${encodeURIComponent(masked.path)}&size=48`;
    const first = await get(url);
    expect(first.status).toBe(200);
    expect(first.headers["content-type"]).toBe("image/jpeg");
    expect(first.headers["cache-control"]).toContain("immutable");
    const meta = await sharp(first.body as Buffer).metadata();
    expect([meta.width, meta.height]).toEqual([48, 48]);
    const cached = await readdir(path.join(tmp, "thumbnails", versionId, "48"));
    expect(cached).toHaveLength(1);
    const again = await get(url);
    expect(Buffer.compare(again.body as Buffer, first.body as Buffer)).toBe(0);
  });

  it("draws the lesion mask in red over the image when asked", async () => {
    const base = `/api/dataset-versions/${versionId}/thumbnail?path=${encodeURIComponent(masked.path)}&size=96`;
    const plain = await get(base);
    const withMask = await get(`${base}&mask=true`);
    expect(withMask.status).toBe(200);
    // Gray X-ray-like pixels have red = green (give or take JPEG); inside the mask the 45% red
    // overlay puts red about 0.45 * (255 - 48) = 93 above green.
    expect(await maxRedExcess(plain.body as Buffer)).toBeLessThan(15);
    expect(await maxRedExcess(withMask.body as Buffer)).toBeGreaterThan(70);
  });

  it("refuses bad sizes, unknown images and roots outside the API's data roots", async () => {
    const p = encodeURIComponent(masked.path);
    const big = await get(`/api/dataset-versions/${versionId}/thumbnail?path=${p}&size=5000`);
    expect(big.status).toBe(400);
    expect(JSON.parse(String(big.body)).error).toMatch(/size must be an integer from 32 to 1024/);
    expect((await get(`/api/dataset-versions/${versionId}/thumbnail?path=${p}&mask=maybe`)).status).toBe(400);
    expect((await get(`/api/dataset-versions/${versionId}/thumbnail?path=test/x.png`)).status).toBe(404);
    const outside = await get(`/api/dataset-versions/${outsideVersion}/thumbnail?path=${p}`);
    expect(outside.status).toBe(409);
    expect(JSON.parse(String(outside.body)).error).toMatch(/outside the API's data roots/);
  });
});
