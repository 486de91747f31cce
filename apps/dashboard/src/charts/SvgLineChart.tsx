import { memo, useMemo, useState } from "react";
import type { LineSeriesChartProps } from "./LineSeriesChart";
import { niceTicks } from "./niceTicks";
import { HoverLabel, HoverPaths, YGridLines } from "./svgParts";
import { useWidth } from "./useWidth";

const MARGIN = { top: 12, right: 16, bottom: 44, left: 64 };

function extent(values: number[], fallback: [number, number]): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return Number.isFinite(lo) ? [lo, hi] : fallback;
}

/**
 * Many lines in one plain SVG: one <path> per series, no per-point elements, no animation. Used
 * instead of recharts when a chart holds dozens to hundreds of series (recharts re-derives every
 * series on each update, which took seconds at 200). Hovering a line highlights it and names it.
 */
export const SvgLineChart = memo(function SvgLineChart({
  series,
  xLabel,
  yLabel,
  xDomain = ["dataMin", "dataMax"],
  yDomain = ["auto", "auto"],
  height = 260,
  testId,
  yTickFormat,
  xIntegers = false,
  ticks,
}: LineSeriesChartProps) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const [hovered, setHovered] = useState<string | null>(null);
  const plotW = Math.max(0, width - MARGIN.left - MARGIN.right);
  const plotH = Math.max(0, height - MARGIN.top - MARGIN.bottom);

  const scales = useMemo(() => {
    const xs = series.flatMap((s) => s.points.map((p) => p.x));
    const ys = series.flatMap((s) => s.points.map((p) => p.y));
    const [dx0, dx1] = extent(xs, [0, 1]);
    const [dy0, dy1] = extent(ys, [0, 1]);
    const x0 = typeof xDomain[0] === "number" ? xDomain[0] : dx0;
    const x1 = typeof xDomain[1] === "number" ? xDomain[1] : dx1;
    const pad = (dy1 - dy0) * 0.05 || 0.05;
    const y0 = typeof yDomain[0] === "number" ? yDomain[0] : dy0 - pad;
    const y1 = typeof yDomain[1] === "number" ? yDomain[1] : dy1 + pad;
    const xTicks = (ticks ?? niceTicks(x0, x1, 6)).filter((t) => !xIntegers || Number.isInteger(t));
    return {
      x0,
      x1: x1 === x0 ? x0 + 1 : x1,
      y0,
      y1: y1 === y0 ? y0 + 1 : y1,
      xTicks,
      yTicks: ticks ?? niceTicks(y0, y1, 5),
    };
  }, [series, xDomain, yDomain, ticks, xIntegers]);

  const sx = (x: number) => MARGIN.left + ((x - scales.x0) / (scales.x1 - scales.x0)) * plotW;
  const sy = (y: number) => MARGIN.top + (1 - (y - scales.y0) / (scales.y1 - scales.y0)) * plotH;

  // Path strings depend on the size and data only, so hovering re-renders no geometry.
  // biome-ignore lint/correctness/useExhaustiveDependencies: sx/sy derive from scales, plotW, plotH.
  const paths = useMemo(
    () =>
      series.map((s) => ({
        ...s,
        d: s.points
          .map((p, i) => `${i === 0 ? "M" : "L"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`)
          .join(""),
      })),
    [series, scales, plotW, plotH],
  );
  const fmtY =
    yTickFormat ?? ((v: number) => (Math.abs(v) < 0.01 && v !== 0 ? v.toExponential(0) : v.toFixed(2)));
  const fmtX = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const hoveredSeries = hovered ? paths.find((p) => p.id === hovered) : undefined;

  return (
    <div
      ref={ref}
      data-testid={testId}
      data-series={series.length}
      style={{ width: "100%", height, position: "relative" }}
    >
      {width > 0 && (
        <svg
          width={width}
          height={height}
          role="img"
          aria-label={`${yLabel} by ${xLabel}, ${series.length} lines`}
        >
          <g fontSize={12} fill="#666">
            <YGridLines ticks={scales.yTicks} y={sy} left={MARGIN.left} width={plotW} format={fmtY} />
            {scales.xTicks.map((t) => (
              <g key={`x${t}`}>
                <line
                  x1={sx(t)}
                  x2={sx(t)}
                  y1={MARGIN.top}
                  y2={MARGIN.top + plotH}
                  stroke="#e0e0e0"
                  strokeDasharray="3 3"
                />
                <text x={sx(t)} y={MARGIN.top + plotH + 16} textAnchor="middle">
                  {fmtX(t)}
                </text>
              </g>
            ))}
            <text x={MARGIN.left + plotW / 2} y={height - 6} textAnchor="middle">
              {xLabel}
            </text>
            <text transform={`translate(14 ${MARGIN.top + plotH / 2}) rotate(-90)`} textAnchor="middle">
              {yLabel}
            </text>
          </g>
          <rect x={MARGIN.left} y={MARGIN.top} width={plotW} height={plotH} fill="none" stroke="#999" />
          <HoverPaths
            paths={paths}
            hovered={hovered}
            onHover={setHovered}
            strokeWidth={1.2}
            dimmed={0.25}
            shown={0.9}
            highlightWidth={3}
            attrs={() => ({ className: "xnn-line" })}
          />
        </svg>
      )}
      <HoverLabel line={hoveredSeries} position={{ top: MARGIN.top + 4, left: MARGIN.left + 8 }} />
    </div>
  );
});
