import { describe, expect, it } from "vitest";
import { DISPLAY_CURVE_POINTS, displayCurves } from "../services/runs/runCurves";
import { GZIP_MIN_BYTES } from "./gzipJson";
import { useApiHarness } from "./testing/harness";
import { SEED_CLASSES, seedRunId, seedRuns } from "./testing/seedRuns";

// Compare's payload (thinned curves without thresholds, epoch series) and gzip on large answers.
const SWEEP = "cmp";
const POINTS = 600;

const h = useApiHarness({
  seed: async ({ sql }) => {
    await seedRuns(sql, {
      sweepId: SWEEP,
      task: "xray",
      runs: 6,
      epochs: 4,
      curvePoints: POINTS,
      artifacts: true,
    });
    // A run with nothing recorded yet: its comparison is a few hundred bytes.
    await seedRuns(sql, { sweepId: "cmp-bare", task: "xray", runs: 1 });
  },
});

const get = (url: string) => h.as("viewer").get(url);
type Point = { recall: number; precision: number; threshold?: number };
type Curves = Record<string, { ap: number | null; points: Point[] }>;

describe("GET /api/compare curves", () => {
  it("thins each curve keeping its ends, leaves thresholds out, and keeps the evaluation's exact AP", async () => {
    const ids = [seedRunId(SWEEP, 0), seedRunId(SWEEP, 1)];
    const res = await get(`/api/compare?runs=${ids.join(",")}`);
    expect(res.status).toBe(200);
    const curves: Curves = res.body.runs[0].curves;
    expect(Object.keys(curves).sort()).toEqual([...SEED_CLASSES, "micro"].sort());
    for (const curve of Object.values(curves)) {
      expect(curve.points.length).toBeLessThanOrEqual(DISPLAY_CURVE_POINTS);
      expect(curve.points.length).toBeGreaterThan(DISPLAY_CURVE_POINTS / 2);
      expect(curve.points[0]).toEqual({ recall: 1, precision: 1 });
      expect(curve.points.at(-1)).toEqual({ recall: 0, precision: 0.5 });
      for (const p of curve.points) expect(Object.keys(p).sort()).toEqual(["precision", "recall"]);
    }
    // AP is the stored one (seedRuns: perClass[k].ap = 0.7 + k / 10, microAp 0.77), not recomputed.
    expect(curves.micro!.ap).toBe(0.77);
    expect(curves.virus!.ap).toBe(0.7 + 2 / 10);
  });

  it("stores DISPLAY_CURVE_POINTS per curve as columns and thins further for many runs", async () => {
    const id = seedRunId(SWEEP, 2);
    await get(`/api/compare?runs=${id}`);
    const [stored] = await h.sql<{ curves: Record<string, { recall: number[]; precision: number[] }> }[]>`
      SELECT curves FROM "RunCurveSummary" WHERE "runId" = ${id} AND "maxPoints" = ${DISPLAY_CURVE_POINTS}`;
    expect(stored!.curves.micro!.recall.length).toBeLessThanOrEqual(DISPLAY_CURVE_POINTS);
    expect(stored!.curves.micro!.recall.length).toBe(stored!.curves.micro!.precision.length);

    // What a comparison of 200 runs gets (50 points), from the stored summary and from the points.
    const [fromSummary] = [...(await displayCurves(h.sql, [id], "test", 50)).values()];
    const [fromPoints] = [...(await displayCurves(h.sql, [seedRunId(SWEEP, 3)], "test", 50)).values()];
    for (const run of [fromSummary!, fromPoints!]) {
      for (const curve of Object.values(run.curves)) {
        expect(curve.points).toHaveLength(50);
        expect(curve.points[0]!.recall).toBe(1);
        expect(curve.points.at(-1)!.recall).toBe(0);
      }
      expect(run.curves.micro!.ap).toBe(0.77);
    }
    expect(fromSummary!.curves).toEqual(fromPoints!.curves);
  });
});

describe("GET /api/compare epoch series", () => {
  it("indexes values by epoch, with null for missing epochs and for NaN", async () => {
    const id = seedRunId(SWEEP, 4);
    await h.sql`DELETE FROM "EpochMetric" WHERE "runId" = ${id} AND split = 'val' AND name = 'loss' AND epoch = 1`;
    await h.sql`UPDATE "EpochMetric" SET value = 'NaN' WHERE "runId" = ${id} AND split = 'train' AND name = 'loss' AND epoch = 2`;
    const res = await get(`/api/compare?runs=${id}`);
    const { epochs } = res.body.runs[0];
    expect(Object.keys(epochs).sort()).toEqual(["train", "val"]);
    expect(epochs.val.loss).toHaveLength(4);
    expect(epochs.val.loss[1]).toBeNull();
    expect(epochs.train.loss[2]).toBeNull();
    expect(epochs.train.loss.filter((v: unknown) => typeof v === "number")).toHaveLength(3);
    // seedRuns' f1 is 1 - 1 / (epoch + 2) for every run and epoch.
    expect(epochs.val.f1).toEqual([0, 1, 2, 3].map((e) => 1 - 1 / (e + 2)));
  });
});

describe("gzip", () => {
  it("compresses large JSON answers for clients that accept it, and only for them", async () => {
    const ids = Array.from({ length: 6 }, (_, i) => seedRunId(SWEEP, i)).join(",");
    const zipped = await get(`/api/compare?runs=${ids}`).set("Accept-Encoding", "gzip, deflate");
    expect(zipped.status).toBe(200);
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.headers["content-type"]).toMatch(/^application\/json/);
    expect(zipped.headers.vary).toMatch(/Accept-Encoding/i);
    expect(Number(zipped.headers["content-length"])).toBeLessThan(JSON.stringify(zipped.body).length / 3);

    const plain = await get(`/api/compare?runs=${ids}`).set("Accept-Encoding", "identity");
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.headers.vary).toMatch(/Accept-Encoding/i);
    expect(plain.body).toEqual(zipped.body);
    expect(JSON.stringify(plain.body).length).toBeGreaterThan(GZIP_MIN_BYTES);

    // A 304 for a repeated request still works (the ETag is that of the compressed bytes).
    const again = await get(`/api/compare?runs=${ids}`)
      .set("Accept-Encoding", "gzip")
      .set("If-None-Match", zipped.headers.etag!);
    expect(again.status).toBe(304);
  });

  it("leaves small answers and errors alone", async () => {
    const small = await get(`/api/compare?runs=${seedRunId("cmp-bare", 0)}`).set("Accept-Encoding", "gzip");
    expect(JSON.stringify(small.body).length).toBeLessThan(GZIP_MIN_BYTES);
    expect(small.headers["content-encoding"]).toBeUndefined();
    const missing = await get("/api/compare?runs=ghost").set("Accept-Encoding", "gzip");
    expect(missing.status).toBe(404);
    expect(missing.headers["content-encoding"]).toBeUndefined();
    expect(missing.body.missing).toEqual(["ghost"]);
  });
});
