import { memo, useMemo } from "react";
import { niceTicks } from "./niceTicks";
import { YGridLines } from "./svgParts";
import { useWidth } from "./useWidth";

const MARGIN = { top: 10, right: 12, bottom: 28, left: 44 };

/** One bar per group: a level of an axis across the metrics. */
export interface BarSeries {
  id: string;
  name: string;
  color: string;
  /** One value per group; null draws no bar. */
  values: (number | null)[];
  /** Optional whisker per group (e.g. the lowest and highest run behind a mean). */
  ranges?: ([number, number] | null)[];
}

export interface GroupedBarChartProps {
  groups: string[];
  series: BarSeries[];
  height?: number;
  /** The y range; default: a nice range around the values, within [0, 1]. */
  yDomain?: [number, number];
  testId?: string;
  ariaLabel: string;
}

/** A y range that shows differences between bars: nice bounds around the values, within [0, 1]. */
export function unitDomain(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = Math.max((hi - lo) * 0.15, 0.02);
  return [Math.max(0, Math.floor((lo - pad) * 20) / 20), Math.min(1, Math.ceil((hi + pad) * 20) / 20)];
}

/**
 * Grouped bars in plain SVG: groups along x, one bar per series in each, an optional whisker per
 * bar, a legend of the series. Every bar carries its group, series and value as data attributes.
 */
export const GroupedBarChart = memo(function GroupedBarChart({
  groups,
  series,
  height = 220,
  yDomain,
  testId,
  ariaLabel,
}: GroupedBarChartProps) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const plotW = Math.max(0, width - MARGIN.left - MARGIN.right);
  const plotH = Math.max(0, height - MARGIN.top - MARGIN.bottom);
  const [y0, y1] = useMemo(
    () =>
      yDomain ??
      unitDomain(
        series.flatMap((s) => [
          ...s.values.filter((v): v is number => v !== null),
          ...(s.ranges ?? []).flatMap((r) => r ?? []),
        ]),
      ),
    [series, yDomain],
  );
  const sy = (v: number) => MARGIN.top + (1 - (Math.min(Math.max(v, y0), y1) - y0) / (y1 - y0 || 1)) * plotH;
  const groupW = groups.length ? plotW / groups.length : 0;
  const barW = series.length ? (groupW * 0.8) / series.length : 0;

  return (
    <div data-testid={testId}>
      <div ref={ref} style={{ width: "100%", height }}>
        {width > 0 && (
          <svg width={width} height={height} role="img" aria-label={ariaLabel}>
            <g fontSize={11} fill="#666">
              <YGridLines
                ticks={niceTicks(y0, y1, 4)}
                y={sy}
                left={MARGIN.left}
                width={plotW}
                format={(t) => t.toFixed(2)}
              />
              {groups.map((g, gi) => (
                <text
                  key={g}
                  x={MARGIN.left + groupW * (gi + 0.5)}
                  y={MARGIN.top + plotH + 16}
                  textAnchor="middle"
                >
                  {g}
                </text>
              ))}
            </g>
            <line
              x1={MARGIN.left}
              x2={MARGIN.left + plotW}
              y1={MARGIN.top + plotH}
              y2={MARGIN.top + plotH}
              stroke="#999"
            />
            {groups.map((g, gi) =>
              series.map((s, si) => {
                const v = s.values[gi];
                if (v === null || v === undefined) return null;
                const x = MARGIN.left + groupW * gi + groupW * 0.1 + barW * si;
                const top = sy(v);
                const range = s.ranges?.[gi];
                return (
                  <g
                    key={`${g}/${s.id}`}
                    data-testid="bar"
                    data-group={g}
                    data-series={s.name}
                    data-value={v}
                  >
                    <rect
                      x={x + 1}
                      y={top}
                      width={Math.max(barW - 2, 1)}
                      height={Math.max(MARGIN.top + plotH - top, 0)}
                      fill={s.color}
                    >
                      <title>{`${s.name} · ${g}: ${v.toFixed(3)}${range ? ` (runs ${range[0].toFixed(3)}–${range[1].toFixed(3)})` : ""}`}</title>
                    </rect>
                    {range && (
                      <line
                        x1={x + barW / 2}
                        x2={x + barW / 2}
                        y1={sy(range[0])}
                        y2={sy(range[1])}
                        stroke="#333"
                        strokeWidth={1}
                        pointerEvents="none"
                      />
                    )}
                  </g>
                );
              }),
            )}
          </svg>
        )}
      </div>
      <div
        style={{ display: "flex", flexWrap: "wrap", gap: "2px 12px", fontSize: 12, paddingLeft: MARGIN.left }}
      >
        {series.map((s) => (
          <span
            key={s.id}
            data-testid="legend-item"
            style={{ display: "inline-flex", alignItems: "center", gap: 4 }}
          >
            <span style={{ width: 10, height: 10, background: s.color, display: "inline-block" }} />
            {s.name}
          </span>
        ))}
      </div>
    </div>
  );
});
