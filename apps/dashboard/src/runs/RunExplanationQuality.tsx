import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import Typography from "@mui/material/Typography";
import { fmt } from "../common/format";
import type { RunDetail } from "../types";

const HEADERS: Array<[string, string | undefined]> = [
  ["image", undefined],
  ["class", undefined],
  [
    "completeness gap",
    "|sum of attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)|; lower is better",
  ],
  [
    "steps used",
    "Integrated Gradients intervals the adaptive schedule needed to reach a 5% gap (or its cap)",
  ],
  ["deletion AUC", "lower is better"],
  ["insertion AUC", "higher is better"],
  ["mask share", "share of positive attribution inside the lesion mask; higher is better"],
];

/**
 * Explanation quality of the run's best checkpoint on its fixed probe set: the figures the worker
 * stored after the test evaluation, then each probe image's scores.
 */
export function RunExplanationQuality({ run }: { run: RunDetail }) {
  const q = run.explanation;
  if (!q) {
    return (
      <Typography color="text.secondary">
        Not computed for this run (eval.probePerClass is 0, or the run predates explanation quality).
      </Typography>
    );
  }
  const classNames = run.confusion?.test?.classNames ?? [];
  const perImage = q.perImage ?? [];
  const perClass = (run.config as { eval?: { probePerClass?: number } } | null)?.eval?.probePerClass ?? null;
  return (
    <>
      <Typography sx={{ mb: 1 }} data-testid="explanation-summary">
        mean completeness gap <b data-testid="explanation-gap">{fmt(q.completenessGap)}</b> (
        {fmt(q.stepsUsed, 0)} steps used) · deletion AUC{" "}
        <b data-testid="explanation-deletion">{fmt(q.deletionAuc)}</b> (lower is better) · insertion AUC{" "}
        <b data-testid="explanation-insertion">{fmt(q.insertionAuc)}</b> (higher is better) · mask share{" "}
        <b data-testid="explanation-mask">{q.maskShare === null ? "no masks" : fmt(q.maskShare)}</b>
      </Typography>
      <Typography variant="body2" color="text.secondary">
        Integrated Gradients for each image's true class, best checkpoint, {q.probeImages} probe image
        {q.probeImages === 1 ? "" : "s"} from the test split
        {perClass !== null ? ` (${perClass} per class)` : ""}
        {q.durationMs !== null ? `; took ${(q.durationMs / 1000).toFixed(1)} s` : ""}.
      </Typography>
      {perImage.length > 0 && (
        <Table size="small" sx={{ mt: 2, maxWidth: 900 }} data-testid="explanation-table">
          <TableHead>
            <TableRow>
              {HEADERS.map(([h, title]) => (
                <TableCell key={h} align={h === "image" || h === "class" ? "left" : "right"} title={title}>
                  {h}
                </TableCell>
              ))}
            </TableRow>
          </TableHead>
          <TableBody>
            {perImage.map((p) => (
              <TableRow key={p.path}>
                <TableCell sx={{ fontFamily: "monospace" }}>{p.path}</TableCell>
                <TableCell>{classNames[p.label] ?? p.label}</TableCell>
                <TableCell align="right">{fmt(p.completenessGap)}</TableCell>
                <TableCell align="right">{p.stepsUsed}</TableCell>
                <TableCell align="right">{fmt(p.deletionAuc)}</TableCell>
                <TableCell align="right">{fmt(p.insertionAuc)}</TableCell>
                <TableCell align="right">{fmt(p.maskShare)}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </>
  );
}
