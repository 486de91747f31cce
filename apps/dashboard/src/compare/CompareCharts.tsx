import Box from "@mui/material/Box";
import Grid from "@mui/material/Grid";
import MenuItem from "@mui/material/MenuItem";
import Stack from "@mui/material/Stack";
import Tab from "@mui/material/Tab";
import Tabs from "@mui/material/Tabs";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { memo, useMemo, useState } from "react";
import { downsample } from "../charts/downsample";
import { LineSeriesChart, type Series } from "../charts/LineSeriesChart";
import { PrCurveChart } from "../charts/PrCurveChart";
import type { CompareRun } from "../types";
import { curveNames, metricNames, pointsPerLine } from "./compareData";

/** One metric of one split, every run overlaid. */
const MetricOverlay = memo(function MetricOverlay({
  runs,
  colors,
  split,
  name,
}: {
  runs: CompareRun[];
  colors: Map<string, string>;
  split: string;
  name: string;
}) {
  const series = useMemo<Series[]>(() => {
    const max = pointsPerLine(runs.length, 10, 200);
    return runs
      .map((r) => {
        const values = r.epochs?.[split]?.[name] ?? [];
        // Values are indexed by epoch number, with null for epochs that reported nothing.
        const points = values.flatMap((y, epoch) => (y === null ? [] : [{ x: epoch, y }]));
        return { id: r.id, name: r.key, color: colors.get(r.id) ?? "#888", points: downsample(points, max) };
      })
      .filter((s) => s.points.length > 0);
  }, [runs, colors, split, name]);
  return (
    <LineSeriesChart
      series={series}
      xLabel="epoch"
      xIntegers
      yLabel={`${split} ${name}`}
      height={300}
      testId={`compare-metric-chart-${split}-${name}`}
      yDomain={name === "f1" || name === "accuracy" ? [0, 1] : ["auto", "auto"]}
      yTickFormat={name === "lr" ? (v) => v.toExponential(1) : undefined}
    />
  );
});

function MetricPicker({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: string;
  options: string[];
  onChange: (v: string) => void;
}) {
  return (
    <TextField
      select
      size="small"
      label={label}
      value={value}
      onChange={(e) => onChange(e.target.value)}
      sx={{ minWidth: 120 }}
    >
      {options.map((o) => (
        <MenuItem key={o} value={o}>
          {o}
        </MenuItem>
      ))}
    </TextField>
  );
}

/** Two overlaid metric charts whose split and metric can be chosen (val F1 and val loss by default). */
export function CompareMetricCharts({ runs, colors }: { runs: CompareRun[]; colors: Map<string, string> }) {
  const { splits, names } = useMemo(() => metricNames(runs), [runs]);
  const defaultSplit = splits.includes("val") ? "val" : (splits[0] ?? "val");
  const [left, setLeft] = useState({ split: defaultSplit, name: "f1" });
  const [right, setRight] = useState({ split: defaultSplit, name: "loss" });
  if (names.length === 0)
    return <Typography color="text.secondary">No epoch metrics for these runs.</Typography>;
  return (
    <Grid container spacing={2} data-testid="compare-metric-charts">
      {[[left, setLeft] as const, [right, setRight] as const].map(([sel, set], i) => (
        <Grid key={i === 0 ? "left" : "right"} size={{ xs: 12, md: 6 }}>
          <Stack direction="row" spacing={1} sx={{ mb: 1 }}>
            <MetricPicker
              label="split"
              value={sel.split}
              options={splits}
              onChange={(split) => set({ ...sel, split })}
            />
            <MetricPicker
              label="metric"
              value={sel.name}
              options={names}
              onChange={(name) => set({ ...sel, name })}
            />
          </Stack>
          <MetricOverlay runs={runs} colors={colors} split={sel.split} name={sel.name} />
        </Grid>
      ))}
    </Grid>
  );
}

/** Test PR curves of one class (tabs), every run overlaid, AP per run in the legend. */
export function ComparePrCurves({ runs, colors }: { runs: CompareRun[]; colors: Map<string, string> }) {
  const names = useMemo(() => curveNames(runs), [runs]);
  const [chosen, setChosen] = useState<string | null>(null);
  const curve = chosen && names.includes(chosen) ? chosen : (names[0] ?? "");
  const curves = useMemo(
    () =>
      runs.flatMap((r) => {
        const c = r.curves?.[curve];
        return c ? [{ id: r.id, name: r.key, curve: c, color: colors.get(r.id) }] : [];
      }),
    [runs, colors, curve],
  );
  if (names.length === 0) return <Typography color="text.secondary">No PR curves for these runs.</Typography>;
  return (
    <Box data-testid="compare-pr">
      <Tabs value={curve} onChange={(_, v: string) => setChosen(v)} variant="scrollable" sx={{ mb: 1 }}>
        {names.map((n) => (
          <Tab key={n} value={n} label={n === "micro" ? "micro-average" : n} />
        ))}
      </Tabs>
      <PrCurveChart
        curves={curves}
        testId="compare-pr-chart"
        height={360}
        maxPointsPerCurve={pointsPerLine(curves.length, 20, 200)}
      />
    </Box>
  );
}
