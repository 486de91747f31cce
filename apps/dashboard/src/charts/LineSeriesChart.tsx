import { memo } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { SvgLineChart } from "./SvgLineChart";

export interface XY {
  x: number;
  y: number;
}

export interface Series {
  id: string;
  name: string;
  color: string;
  dashed?: boolean;
  points: XY[];
}

export interface LineSeriesChartProps {
  series: Series[];
  xLabel: string;
  yLabel: string;
  xDomain?: [number, number] | ["dataMin", "dataMax"];
  yDomain?: [number | "auto", number | "auto"];
  height?: number;
  testId?: string;
  /** Legend and tooltips cost a DOM node per series: turned off beyond this many lines. */
  maxLegendItems?: number;
  yTickFormat?: (v: number) => string;
  step?: boolean;
  /** Whole-number x values only (epochs). */
  xIntegers?: boolean;
  /** Ticks on both axes, e.g. quarters for [0, 1] axes. */
  ticks?: number[];
}

/** Any number of x/y lines with their own x values, drawn without animation or dots. */
export const LineSeriesChart = memo(function LineSeriesChart({
  series,
  xLabel,
  yLabel,
  xDomain = ["dataMin", "dataMax"],
  yDomain = ["auto", "auto"],
  height = 260,
  testId,
  maxLegendItems = 16,
  yTickFormat,
  step = false,
  xIntegers = false,
  ticks,
}: LineSeriesChartProps) {
  const interactive = series.length <= maxLegendItems;
  if (!interactive) {
    return (
      <SvgLineChart
        {...{ series, xLabel, yLabel, xDomain, yDomain, height, testId, yTickFormat, xIntegers, ticks }}
      />
    );
  }
  return (
    <div data-testid={testId} data-series={series.length} style={{ width: "100%", height }}>
      <ResponsiveContainer width="100%" height="100%">
        <LineChart margin={{ top: 8, right: 16, bottom: 20, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis
            type="number"
            dataKey="x"
            domain={xDomain}
            allowDuplicatedCategory={false}
            allowDecimals={!xIntegers}
            ticks={ticks}
            label={{ value: xLabel, position: "insideBottom", offset: -10 }}
            tickFormatter={(v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2))}
          />
          <YAxis
            type="number"
            domain={yDomain}
            ticks={ticks}
            width={yTickFormat ? 68 : 56}
            tickFormatter={
              yTickFormat ??
              ((v: number) => (Math.abs(v) < 0.01 && v !== 0 ? v.toExponential(0) : v.toFixed(2)))
            }
            label={{ value: yLabel, angle: -90, position: "insideLeft", offset: 4 }}
          />
          {interactive && (
            <Tooltip
              formatter={(v) => (typeof v === "number" ? v.toFixed(4) : String(v))}
              labelFormatter={(l) => `${xLabel} ${typeof l === "number" ? +l.toFixed(3) : l}`}
            />
          )}
          {/* No fixed height: recharts measures the legend, so a wrapped legend never covers the plot. */}
          {interactive && <Legend verticalAlign="top" itemSorter={null} />}
          {series.map((s) => (
            <Line
              key={s.id}
              name={s.name}
              data={s.points}
              dataKey="y"
              type={step ? "stepAfter" : "linear"}
              stroke={s.color}
              strokeDasharray={s.dashed ? "5 3" : undefined}
              strokeWidth={interactive ? 2 : 1}
              dot={false}
              activeDot={interactive ? { r: 3 } : false}
              isAnimationActive={false}
              connectNulls
            />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
});
