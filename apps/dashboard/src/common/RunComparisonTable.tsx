import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import { fmt } from "./format";

export interface RunSummary {
  key?: string;
  sweepId?: string;
  model?: string;
  classWeighting?: string;
  stage?: string;
  testF1?: number | null;
  bestValF1?: number | null;
  version?: number | null;
}

/** Candidate next to the current production model, as shown before a promotion is confirmed. */
export function RunComparisonTable({
  candidate,
  current,
}: {
  candidate: RunSummary;
  current: RunSummary | null;
}) {
  const rows: Array<[string, (r: RunSummary) => string]> = [
    ["run", (r) => r.key ?? "–"],
    ["sweep", (r) => r.sweepId ?? "–"],
    ["model", (r) => r.model ?? "–"],
    ["class weighting", (r) => r.classWeighting ?? "–"],
    ["stage", (r) => r.stage ?? "–"],
    ["test weighted F1", (r) => fmt(r.testF1)],
    ["best val weighted F1", (r) => fmt(r.bestValF1)],
  ];
  return (
    <Table size="small" data-testid="promotion-comparison">
      <TableHead>
        <TableRow>
          <TableCell />
          <TableCell>Candidate</TableCell>
          <TableCell>Current production{current?.version ? ` (v${current.version})` : ""}</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {rows.map(([label, get]) => (
          <TableRow key={label}>
            <TableCell component="th">{label}</TableCell>
            <TableCell data-testid={label === "test weighted F1" ? "candidate-test-f1" : undefined}>
              {get(candidate)}
            </TableCell>
            <TableCell>{current ? get(current) : label === "run" ? "none yet" : ""}</TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}
