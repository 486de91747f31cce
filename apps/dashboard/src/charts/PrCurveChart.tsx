import { memo, useMemo } from "react";
import { seriesColor } from "../common/format";
import type { PrCurve } from "../types";
import { downsample } from "./downsample";
import { LineSeriesChart, type Series } from "./LineSeriesChart";

export interface PrCurveChartProps {
  /** Named curves, e.g. one per class plus "micro", or one per run for a single class. */
  curves: Array<{ id: string; name: string; curve: PrCurve; color?: string; dashed?: boolean }>;
  height?: number;
  testId?: string;
  maxPointsPerCurve?: number;
}

/** Precision (y) against recall (x); each legend entry carries the curve's average precision. */
export const PrCurveChart = memo(function PrCurveChart({
  curves,
  height = 320,
  testId = "pr-chart",
  maxPointsPerCurve = 200,
}: PrCurveChartProps) {
  const series = useMemo<Series[]>(
    () =>
      curves.map((c, i) => ({
        id: c.id,
        name: c.curve.ap === null ? c.name : `${c.name} (AP ${c.curve.ap.toFixed(3)})`,
        color: c.color ?? seriesColor(i),
        dashed: c.dashed,
        points: downsample(
          [...c.curve.points].sort((a, b) => a.recall - b.recall || b.precision - a.precision),
          maxPointsPerCurve,
        ).map((p) => ({ x: p.recall, y: p.precision })),
      })),
    [curves, maxPointsPerCurve],
  );
  return (
    <LineSeriesChart
      series={series}
      xLabel="recall"
      yLabel="precision"
      xDomain={[0, 1]}
      yDomain={[0, 1]}
      ticks={[0, 0.25, 0.5, 0.75, 1]}
      height={height}
      testId={testId}
    />
  );
});
