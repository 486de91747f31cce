import { memo, useMemo, useState } from "react";
import { HoverLabel, HoverPaths } from "./svgParts";
import { useWidth } from "./useWidth";

const MARGIN = { top: 42, right: 56, bottom: 24, left: 56 };
/** Closer than this, axis titles alternate between two rows so that neighbours do not overlap. */
const STAGGER_BELOW_PX = 130;

export type PcValue = string | number | boolean | null;

export interface CategoricalDimension {
  key: string;
  label: string;
  kind: "categorical";
  categories: PcValue[];
}

export interface NumericDimension {
  key: string;
  label: string;
  kind: "numeric";
  min: number;
  max: number;
  log: boolean;
}

/** A vertical axis: categories spaced evenly in the given order, or a numeric scale. */
export type PcDimension = CategoricalDimension | NumericDimension;

export interface PcLine {
  id: string;
  name: string;
  /** One value per dimension. */
  values: PcValue[];
  color: string;
}

/** How a value prints on an axis. */
export function formatPcValue(v: PcValue): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
  return v === null ? "–" : String(v);
}

/**
 * A numeric dimension over `values`; with `allowLog`, log-scaled when they are positive and span two
 * decades or more (a learning rate).
 */
export function numericDimension(
  key: string,
  label: string,
  values: number[],
  allowLog = true,
): NumericDimension {
  const min = Math.min(...values);
  const max = Math.max(...values);
  return { key, label, kind: "numeric", min, max, log: allowLog && min > 0 && max / min >= 100 };
}

/** 0 (bottom) to 1 (top) on a dimension; null off the scale. */
function position(d: PcDimension, v: PcValue): number | null {
  if (d.kind === "categorical") {
    const i = d.categories.indexOf(v);
    if (i < 0) return null;
    return d.categories.length === 1 ? 0.5 : i / (d.categories.length - 1);
  }
  if (typeof v !== "number") return null;
  if (d.max === d.min) return 0.5;
  return d.log
    ? (Math.log(v) - Math.log(d.min)) / (Math.log(d.max) - Math.log(d.min))
    : (v - d.min) / (d.max - d.min);
}

/**
 * Parallel coordinates in plain SVG: one vertical axis per dimension, one polyline per line
 * through its values. Hovering a line highlights it and names it. Each axis and line carries its
 * key as a data attribute.
 */
export const ParallelCoordinatesChart = memo(function ParallelCoordinatesChart({
  dimensions,
  lines,
  height = 320,
  testId,
}: {
  dimensions: PcDimension[];
  lines: PcLine[];
  height?: number;
  testId?: string;
}) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const [hovered, setHovered] = useState<string | null>(null);
  const plotW = Math.max(0, width - MARGIN.left - MARGIN.right);
  const plotH = Math.max(0, height - MARGIN.top - MARGIN.bottom);
  const ax = (i: number) =>
    MARGIN.left + (dimensions.length > 1 ? (i / (dimensions.length - 1)) * plotW : plotW / 2);
  const ay = (p: number) => MARGIN.top + (1 - p) * plotH;
  const stagger = dimensions.length > 1 && plotW / (dimensions.length - 1) < STAGGER_BELOW_PX;

  // biome-ignore lint/correctness/useExhaustiveDependencies: ax/ay derive from plotW, plotH and the dimensions.
  const paths = useMemo(
    () =>
      lines.map((l) => {
        let d = "";
        let pen = false;
        dimensions.forEach((dim, i) => {
          const p = position(dim, l.values[i] ?? null);
          if (p === null) {
            pen = false;
            return;
          }
          d += `${pen ? "L" : "M"}${ax(i).toFixed(1)},${ay(p).toFixed(1)}`;
          pen = true;
        });
        return { ...l, d };
      }),
    [lines, dimensions, plotW, plotH],
  );
  const hoveredLine = hovered ? paths.find((p) => p.id === hovered) : undefined;

  return (
    <div
      ref={ref}
      data-testid={testId}
      data-lines={lines.length}
      style={{ width: "100%", height, position: "relative" }}
    >
      {width > 0 && (
        <svg
          width={width}
          height={height}
          role="img"
          aria-label={`${lines.length} runs across ${dimensions.length} axes`}
        >
          <HoverPaths
            paths={paths}
            hovered={hovered}
            onHover={setHovered}
            strokeWidth={1.5}
            dimmed={0.15}
            shown={0.8}
            highlightWidth={3.5}
            attrs={(p) => ({ "data-testid": "pc-line", "data-line": p.name })}
          />
          {dimensions.map((dim, i) => {
            const ticks: { p: number; label: string }[] =
              dim.kind === "categorical"
                ? dim.categories.map((c) => ({ p: position(dim, c) ?? 0, label: formatPcValue(c) }))
                : [
                    { p: 0, label: formatPcValue(dim.min) },
                    { p: 1, label: formatPcValue(dim.max) },
                  ];
            return (
              <g key={dim.key} data-testid="pc-axis" data-axis={dim.label} fontSize={11} fill="#444">
                <line x1={ax(i)} x2={ax(i)} y1={MARGIN.top} y2={MARGIN.top + plotH} stroke="#777" />
                <text
                  x={ax(i)}
                  y={MARGIN.top - 10 - (stagger && i % 2 === 1 ? 14 : 0)}
                  textAnchor="middle"
                  fontWeight={600}
                >
                  {dim.label}
                  {dim.kind === "numeric" && dim.log ? " (log)" : ""}
                </text>
                {ticks.map((t) => (
                  <text
                    key={`${t.p}-${t.label}`}
                    x={ax(i) + 5}
                    y={ay(t.p)}
                    dominantBaseline="middle"
                    stroke="white"
                    strokeWidth={3}
                    paintOrder="stroke"
                    data-testid="pc-tick"
                  >
                    {t.label}
                  </text>
                ))}
              </g>
            );
          })}
        </svg>
      )}
      <HoverLabel line={hoveredLine} position={{ bottom: 4, left: MARGIN.left }} />
    </div>
  );
});
