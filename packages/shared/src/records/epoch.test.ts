import { describe, expect, it } from "vitest";
import { type EpochRecord, epochMetricSchema, epochMetrics, epochRecordSchema } from "./epoch";

const record: EpochRecord = {
  epoch: 3,
  lr: 0.001,
  train: { loss: Number.NaN, accuracy: 0.7 },
  val: { loss: 0.6, accuracy: 0.72, precision: 0.71, recall: 0.72, f1: 0.7 },
  durationMs: 5400,
  imagesPerSec: 118.5,
};

describe("epoch records", () => {
  it("an epoch is stored as one metric per finite figure, under the names the dashboard charts", () => {
    const rows = epochMetrics(record);
    expect(rows.map((r) => `${r.split}.${r.name}`)).toEqual([
      "train.accuracy",
      "train.lr",
      "train.images_per_sec",
      "train.duration_ms",
      "val.loss",
      "val.accuracy",
      "val.precision",
      "val.recall",
      "val.f1",
    ]);
    for (const row of rows) expect(epochMetricSchema.parse(row)).toEqual(row);
    expect(rows.find((r) => r.name === "f1")).toEqual({ epoch: 3, split: "val", name: "f1", value: 0.7 });
  });

  it("a record with a diverged (NaN) loss is still a record; a missing figure is named", () => {
    expect(epochRecordSchema.parse(record).train.loss).toBeNaN();
    const { val: _val, ...withoutVal } = record;
    const parsed = epochRecordSchema.safeParse(withoutVal);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["val"]);
  });
});
