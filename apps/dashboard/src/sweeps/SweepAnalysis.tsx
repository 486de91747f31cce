import Box from "@mui/material/Box";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import FormControl from "@mui/material/FormControl";
import InputLabel from "@mui/material/InputLabel";
import NativeSelect from "@mui/material/NativeSelect";
import Stack from "@mui/material/Stack";
import Tooltip from "@mui/material/Tooltip";
import Typography from "@mui/material/Typography";
import type {
  AxisEffect,
  ParameterImportance,
  SweepAnalysis as SweepAnalysisRecord,
} from "@xnn/shared/records";
import { useMemo, useState } from "react";
import { useRecordContext } from "react-admin";
import { GroupedBarChart } from "../charts/GroupedBarChart";
import {
  numericDimension,
  ParallelCoordinatesChart,
  type PcDimension,
  type PcLine,
} from "../charts/ParallelCoordinatesChart";
import type { SweepDetail } from "../types";
import { useApiQuery } from "../useApiQuery";

/** One colour per level of an axis (an axis has at most six levels, or four bins). */
const LEVEL_COLORS = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#9e9d24"];

/** What the parallel-coordinates lines are coloured by, and its last axis. */
type Metric = { kind: "f1" } | { kind: "recall"; className: string };

const metricLabel = (m: Metric) => (m.kind === "f1" ? "test F1" : `${m.className} recall`);

/** Low red, middle yellow, high green. */
function scaleColor(t: number): string {
  const stops = [
    [215, 48, 39],
    [254, 224, 139],
    [26, 152, 80],
  ] as const;
  const x = Math.min(Math.max(t, 0), 1) * 2;
  const i = Math.min(Math.floor(x), 1);
  const f = x - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  const c = a.map((v, k) => Math.round(v + (b[k]! - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** One axis: the level means of test F1 and of each class's recall, as grouped bars. */
function AxisEffectCard({ effect, classNames }: { effect: AxisEffect; classNames: string[] }) {
  const groups = ["test F1", ...classNames.map((c) => `${c} recall`)];
  const series = effect.levels.map((level, i) => ({
    id: String(i),
    name: `${level.value === null ? "–" : String(level.value)} (${level.runs})`,
    color: LEVEL_COLORS[i % LEVEL_COLORS.length]!,
    values: [level.meanTestF1, ...classNames.map((c) => level.meanRecall[c] ?? null)],
    ranges: [[level.minTestF1, level.maxTestF1] as [number, number], ...classNames.map(() => null)],
  }));
  return (
    <Card variant="outlined" data-testid="axis-effect" data-axis={effect.axis}>
      <CardContent sx={{ pb: 1 }}>
        <Stack direction="row" sx={{ alignItems: "baseline", gap: 1, mb: 0.5 }}>
          <Typography variant="subtitle1" sx={{ fontFamily: "monospace", fontWeight: 600 }}>
            {effect.axis}
          </Typography>
          <Tooltip title="Best minus worst level mean of test weighted F1">
            <Typography variant="body2" color="text.secondary" data-testid="axis-f1-range">
              Δ test F1 {effect.f1Range.toFixed(3)}
            </Typography>
          </Tooltip>
          {effect.binned && (
            <Typography variant="caption" color="text.secondary">
              values in quartile bins
            </Typography>
          )}
        </Stack>
        <GroupedBarChart
          groups={groups}
          series={series}
          ariaLabel={`Mean test F1 and per-class recall by ${effect.axis}`}
        />
      </CardContent>
    </Card>
  );
}

/** Each axis's share of the variance of test F1 (random/bayes sweeps). */
function ImportanceBars({ importance }: { importance: ParameterImportance[] }) {
  return (
    <Box data-testid="parameter-importance" sx={{ mb: 3 }}>
      <Typography variant="subtitle1" sx={{ fontWeight: 600 }}>
        Parameter importance
      </Typography>
      <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
        The share of the variance of test F1 between the runs that each parameter&apos;s values explain: ε²
        (bar), which corrects η² (light bar) for the share a parameter with that many values would explain by
        chance. Each parameter is judged alone: two that move together get the same figure.
      </Typography>
      <Box sx={{ display: "grid", gridTemplateColumns: "max-content 1fr 11em", columnGap: 1.5, rowGap: 0.5 }}>
        {importance.map((p) => (
          <Box
            key={p.axis}
            sx={{ display: "contents" }}
            data-testid="importance-row"
            data-axis={p.axis}
            data-epsilon2={p.epsilon2 ?? ""}
            data-eta2={p.eta2}
          >
            <Typography variant="body2" sx={{ fontFamily: "monospace" }}>
              {p.axis}
            </Typography>
            <Box sx={{ position: "relative", height: 14, alignSelf: "center", bgcolor: "grey.100" }}>
              <Box
                sx={{
                  position: "absolute",
                  inset: 0,
                  width: `${p.eta2 * 100}%`,
                  bgcolor: "primary.light",
                  opacity: 0.35,
                }}
              />
              <Box
                sx={{
                  position: "absolute",
                  inset: 0,
                  width: `${(p.epsilon2 ?? 0) * 100}%`,
                  bgcolor: "primary.main",
                }}
              />
            </Box>
            <Typography variant="body2" color="text.secondary" sx={{ whiteSpace: "nowrap" }}>
              ε² {p.epsilon2 === null ? "–" : p.epsilon2.toFixed(3)} · η² {p.eta2.toFixed(3)} · {p.levels}{" "}
              groups
            </Typography>
          </Box>
        ))}
      </Box>
    </Box>
  );
}

/** All runs across the axes, the chosen metric last; lines coloured by it. */
function ParallelView({ analysis }: { analysis: SweepAnalysisRecord }) {
  const [metric, setMetric] = useState<Metric>({ kind: "f1" });
  const { dimensions, lines } = useMemo(() => {
    const metricOf = (r: SweepAnalysisRecord["parallel"][number]) =>
      metric.kind === "f1" ? r.testF1 : (r.recall[metric.className] ?? null);
    const dims = analysis.axes.map(
      (a): PcDimension =>
        a.kind === "numeric" && a.binned
          ? numericDimension(
              a.axis,
              a.axis,
              analysis.parallel
                .map((r) => r.values[a.axis])
                .filter((v): v is number => typeof v === "number"),
            )
          : {
              key: a.axis,
              label: a.axis,
              kind: "categorical",
              // Categories, or a few numbers: the levels evenly spaced, in the API's order.
              categories: a.levels.map((l) => l.value),
            },
    );
    const scores = analysis.parallel.map(metricOf).filter((v): v is number => v !== null);
    const metricDim = numericDimension(
      "__metric",
      metricLabel(metric),
      scores.length ? scores : [0, 1],
      false,
    );
    const lo = Math.min(...scores);
    const hi = Math.max(...scores);
    const out: PcLine[] = analysis.parallel.map((r) => {
      const v = metricOf(r);
      return {
        id: r.runId,
        name: `${r.key}: ${metricLabel(metric)} ${v === null ? "–" : v.toFixed(3)}`,
        values: [...analysis.axes.map((a) => r.values[a.axis] ?? null), v],
        color: v === null ? "#bbb" : scaleColor(hi > lo ? (v - lo) / (hi - lo) : 0.5),
      };
    });
    return { dimensions: [...dims, metricDim], lines: out };
  }, [analysis, metric]);

  const choose = (value: string) =>
    setMetric(value === "" ? { kind: "f1" } : { kind: "recall", className: value });
  return (
    <Box data-testid="parallel-view" sx={{ mb: 2 }}>
      <Stack direction="row" sx={{ alignItems: "flex-end", gap: 2, mb: 1 }}>
        <Typography variant="subtitle1" sx={{ fontWeight: 600, flex: 1 }}>
          All runs
        </Typography>
        <FormControl size="small" sx={{ width: 240, flexShrink: 0 }}>
          <InputLabel variant="standard" htmlFor="parallel-metric" shrink>
            Colour and last axis
          </InputLabel>
          <NativeSelect
            value={metric.kind === "f1" ? "" : metric.className}
            inputProps={{ id: "parallel-metric" }}
            onChange={(e) => choose(e.target.value)}
          >
            <option value="">test F1</option>
            {analysis.classNames.map((c) => (
              <option key={c} value={c}>
                {c} recall
              </option>
            ))}
          </NativeSelect>
        </FormControl>
      </Stack>
      <ParallelCoordinatesChart dimensions={dimensions} lines={lines} testId="parallel-coordinates" />
    </Box>
  );
}

/**
 * What each swept value did: per axis (model, class weighting, stage, any other key that varies),
 * the mean test F1 and per-class recall of its runs across the other axes; every run in parallel
 * coordinates; and for random/bayes sweeps, each parameter's importance.
 */
export function SweepAnalysisSection() {
  const sweep = useRecordContext<SweepDetail>();
  // Refetched as runs finish.
  const analysis = useApiQuery<SweepAnalysisRecord>(
    sweep ? `/sweeps/${encodeURIComponent(sweep.id)}/analysis` : null,
    sweep?.runsDone ?? 0,
  );
  if (!sweep) return null;
  const a = analysis.data;
  return (
    <Box data-testid="sweep-analysis" sx={{ mt: 3 }}>
      <Typography variant="h6">Analysis</Typography>
      <Typography variant="body2" color="text.secondary" sx={{ mb: 2 }}>
        Each axis&apos;s values against test weighted F1 and each class&apos;s recall: bars are means over the
        succeeded runs with that value, across every value of the other axes (runs in brackets); whiskers span
        the lowest and highest run&apos;s test F1.
      </Typography>
      {analysis.error && <Typography color="error">{analysis.error}</Typography>}
      {a && a.axes.length === 0 && (
        <Typography color="text.secondary" data-testid="analysis-empty">
          {a.runs < 2
            ? `${a.runs} succeeded run${a.runs === 1 ? "" : "s"} with a test F1 so far: the analysis needs two.`
            : "No config value differs between the succeeded runs."}
        </Typography>
      )}
      {a && a.axes.length > 0 && (
        <>
          {a.importance && <ImportanceBars importance={a.importance} />}
          <Box
            sx={{
              display: "grid",
              gap: 2,
              gridTemplateColumns: "repeat(auto-fill, minmax(440px, 1fr))",
              mb: 3,
            }}
          >
            {a.axes.map((effect) => (
              <AxisEffectCard key={effect.axis} effect={effect} classNames={a.classNames} />
            ))}
          </Box>
          <ParallelView analysis={a} />
        </>
      )}
    </Box>
  );
}
