import type { CSSProperties } from "react";

/**
 * Pieces the plain-SVG charts share (SvgLineChart, GroupedBarChart, ParallelCoordinatesChart):
 * dashed horizontal grid lines with their labels, a set of paths that highlight the hovered one,
 * and the hovered line's name in a box.
 */

export interface YGridProps {
  ticks: number[];
  /** Pixel y of a value. */
  y: (v: number) => number;
  left: number;
  width: number;
  format: (v: number) => string;
}

/** One dashed line across the plot and its label at the left margin, per tick. */
export function YGridLines({ ticks, y, left, width, format }: YGridProps) {
  return (
    <>
      {ticks.map((t) => (
        <g key={`y${t}`}>
          <line x1={left} x2={left + width} y1={y(t)} y2={y(t)} stroke="#e0e0e0" strokeDasharray="3 3" />
          <text x={left - 6} y={y(t)} textAnchor="end" dominantBaseline="middle">
            {format(t)}
          </text>
        </g>
      ))}
    </>
  );
}

export interface HoverPath {
  id: string;
  name: string;
  color: string;
  d: string;
  dashed?: boolean;
}

export interface HoverPathsProps<P extends HoverPath> {
  paths: P[];
  hovered: string | null;
  onHover: (id: string | null) => void;
  strokeWidth: number;
  /** Opacity of a path while another is hovered, and otherwise. */
  dimmed: number;
  shown: number;
  highlightWidth: number;
  /** Extra attributes per path (class names, test ids). */
  attrs?: (p: P) => Record<string, string | undefined>;
}

/** Paths that dim while another is hovered; the hovered one is drawn again, thicker, on top. */
export function HoverPaths<P extends HoverPath>({
  paths,
  hovered,
  onHover,
  strokeWidth,
  dimmed,
  shown,
  highlightWidth,
  attrs,
}: HoverPathsProps<P>) {
  const top = hovered ? paths.find((p) => p.id === hovered) : undefined;
  // Hovering only highlights: each path's name is also its <title>, inside the chart's <svg role="img">.
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: SVG group inside a role="img" chart; hover is decoration.
    <g fill="none" onMouseLeave={() => onHover(null)}>
      {paths.map((p) => (
        // biome-ignore lint/a11y/noStaticElementInteractions: as above; the name is in <title>.
        <path
          key={p.id}
          {...attrs?.(p)}
          d={p.d}
          stroke={p.color}
          strokeWidth={strokeWidth}
          strokeDasharray={p.dashed ? "5 3" : undefined}
          strokeOpacity={hovered && hovered !== p.id ? dimmed : shown}
          onMouseEnter={() => onHover(p.id)}
        >
          <title>{p.name}</title>
        </path>
      ))}
      {top && <path d={top.d} stroke={top.color} strokeWidth={highlightWidth} pointerEvents="none" />}
    </g>
  );
}

/** The hovered line's name in a small box over the chart, at `position`. */
export function HoverLabel({ line, position }: { line: HoverPath | undefined; position: CSSProperties }) {
  if (!line) return null;
  return (
    <div
      style={{
        position: "absolute",
        ...position,
        background: "rgba(255,255,255,0.9)",
        border: `1px solid ${line.color}`,
        padding: "2px 6px",
        fontSize: 12,
        pointerEvents: "none",
      }}
    >
      {line.name}
    </div>
  );
}
