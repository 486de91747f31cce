import Grid from "@mui/material/Grid";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import ToggleButton from "@mui/material/ToggleButton";
import ToggleButtonGroup from "@mui/material/ToggleButtonGroup";
import Typography from "@mui/material/Typography";
import { useMemo, useState } from "react";
import { ConfusionHeatmap } from "../charts/ConfusionHeatmap";
import { CountPlot } from "../charts/CountPlot";
import { PrCurveChart } from "../charts/PrCurveChart";
import { fmt } from "../common/format";
import type { CurvesResponse, RunDetail } from "../types";
import { useApiQuery } from "../useApiQuery";

/** PR curves, confusion matrix, TP/FP/FN counts and per-class metrics for one split. */
export function RunEvaluation({ run }: { run: RunDetail }) {
  const splits = (["test", "val"] as const).filter((s) => run.evaluations?.[s] || run.confusion?.[s]);
  const [chosen, setSplit] = useState<string | null>(null);
  const split = chosen ?? splits[0] ?? "test";
  const { data: curves, error } = useApiQuery<CurvesResponse>(
    splits.length > 0 ? `/runs/${encodeURIComponent(run.id)}/curves?split=${split}` : null,
  );
  const evaluation = run.evaluations?.[split as "test" | "val"];
  const confusion = run.confusion?.[split];
  const classNames = useMemo(
    () => confusion?.classNames ?? Object.keys(evaluation?.perClass ?? {}).sort(),
    [confusion, evaluation],
  );

  const curveList = useMemo(() => {
    const entries = Object.entries(curves?.curves ?? {});
    // Classes first, alphabetically; the micro-average last and dashed.
    entries.sort(([a], [b]) => (a === "micro" ? 1 : b === "micro" ? -1 : a.localeCompare(b)));
    return entries.map(([name, curve]) => ({
      id: name,
      name: name === "micro" ? "micro-average" : name,
      curve,
      dashed: name === "micro",
      color: name === "micro" ? "#222" : undefined,
    }));
  }, [curves]);

  if (splits.length === 0) {
    return <Typography color="text.secondary">Not evaluated yet.</Typography>;
  }
  return (
    <>
      <ToggleButtonGroup
        size="small"
        exclusive
        value={split}
        onChange={(_, v: string | null) => v && setSplit(v)}
        sx={{ mb: 2 }}
        aria-label="evaluation split"
      >
        {splits.map((s) => (
          <ToggleButton key={s} value={s}>
            {s}
          </ToggleButton>
        ))}
      </ToggleButtonGroup>
      {evaluation && (
        <Typography sx={{ mb: 2 }} data-testid="evaluation-summary">
          accuracy <b>{fmt(evaluation.accuracy)}</b> · weighted precision <b>{fmt(evaluation.precision)}</b> ·
          weighted recall <b>{fmt(evaluation.recall)}</b> · weighted F1 <b>{fmt(evaluation.f1)}</b> · micro AP{" "}
          <b>{fmt(evaluation.microAp)}</b>
          {evaluation.loss !== null && evaluation.loss !== undefined ? ` · loss ${fmt(evaluation.loss)}` : ""}
        </Typography>
      )}
      <Grid container spacing={3}>
        <Grid size={{ xs: 12, lg: 6 }} data-testid="run-pr-section">
          <Typography variant="subtitle1">Precision-recall ({split})</Typography>
          {error && <Typography color="error">{error}</Typography>}
          {curveList.length > 0 ? (
            <PrCurveChart curves={curveList} testId="pr-chart" />
          ) : (
            <Typography color="text.secondary">No PR curves stored.</Typography>
          )}
        </Grid>
        <Grid size={{ xs: 12, md: 6, lg: 3 }}>
          <Typography variant="subtitle1">Confusion matrix ({split})</Typography>
          {confusion ? (
            <ConfusionHeatmap confusion={confusion} />
          ) : (
            <Typography color="text.secondary">No confusion matrix stored.</Typography>
          )}
        </Grid>
        <Grid size={{ xs: 12, md: 6, lg: 3 }}>
          <Typography variant="subtitle1">TP / FP / FN per class</Typography>
          {evaluation ? <CountPlot perClass={evaluation.perClass} classNames={classNames} /> : null}
        </Grid>
      </Grid>
      {evaluation && (
        <Table size="small" sx={{ mt: 2, maxWidth: 900 }} data-testid="per-class-table">
          <TableHead>
            <TableRow>
              {["class", "precision", "recall", "F1", "AP", "support", "TP", "FP", "FN"].map((h) => (
                <TableCell key={h} align={h === "class" ? "left" : "right"}>
                  {h}
                </TableCell>
              ))}
            </TableRow>
          </TableHead>
          <TableBody>
            {classNames
              .flatMap((name) => {
                const m = evaluation.perClass[name];
                return m ? [[name, m] as const] : [];
              })
              .map(([name, m]) => (
                <TableRow key={name}>
                  <TableCell>{name}</TableCell>
                  <TableCell align="right">{fmt(m.precision)}</TableCell>
                  <TableCell align="right">{fmt(m.recall)}</TableCell>
                  <TableCell align="right">{fmt(m.f1)}</TableCell>
                  <TableCell align="right">{fmt(m.ap)}</TableCell>
                  <TableCell align="right">{m.support}</TableCell>
                  <TableCell align="right">{m.tp}</TableCell>
                  <TableCell align="right">{m.fp}</TableCell>
                  <TableCell align="right">{m.fn}</TableCell>
                </TableRow>
              ))}
          </TableBody>
        </Table>
      )}
    </>
  );
}
