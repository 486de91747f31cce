import Grid from "@mui/material/Grid";
import Typography from "@mui/material/Typography";
import { useMemo } from "react";
import { LineSeriesChart, type Series } from "../charts/LineSeriesChart";
import type { EpochMetric, MetricName } from "../types";

const SPLIT_COLORS: Record<string, string> = { train: "#1565c0", val: "#e65100" };

const PANELS: Array<{ name: MetricName; title: string }> = [
  { name: "loss", title: "Loss" },
  { name: "f1", title: "Weighted F1" },
  { name: "lr", title: "Learning rate" },
];

/** Train vs validation per epoch: one small chart per metric. */
export function EpochCurves({ metrics }: { metrics: EpochMetric[] }) {
  const byName = useMemo(() => {
    const out = new Map<string, Series[]>();
    for (const { name } of PANELS) {
      const splits = new Map<string, { x: number; y: number }[]>();
      for (const m of metrics) {
        if (m.name !== name) continue;
        const list = splits.get(m.split) ?? [];
        list.push({ x: m.epoch, y: m.value });
        splits.set(m.split, list);
      }
      out.set(
        name,
        [...splits.entries()].map(([split, points]) => ({
          id: split,
          name: split,
          color: SPLIT_COLORS[split] ?? "#555",
          // The learning rate is one value per epoch, whichever split reported it.
          dashed: split === "val" && name === "lr",
          points: points.sort((a, b) => a.x - b.x),
        })),
      );
    }
    return out;
  }, [metrics]);

  if (metrics.length === 0) {
    return <Typography color="text.secondary">No epoch metrics yet.</Typography>;
  }
  return (
    <Grid container spacing={2} data-testid="epoch-curves">
      {PANELS.map(({ name, title }) => (
        <Grid key={name} size={{ xs: 12, md: 4 }}>
          <Typography variant="subtitle2">{title}</Typography>
          <LineSeriesChart
            series={byName.get(name) ?? []}
            xLabel="epoch"
            xIntegers
            yLabel={name}
            height={220}
            testId={`epoch-chart-${name}`}
            yDomain={name === "f1" ? [0, 1] : ["auto", "auto"]}
            yTickFormat={name === "lr" ? (v) => v.toExponential(1) : undefined}
          />
        </Grid>
      ))}
    </Grid>
  );
}
