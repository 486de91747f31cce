import Box from "@mui/material/Box";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TablePagination from "@mui/material/TablePagination";
import TableRow from "@mui/material/TableRow";
import TableSortLabel from "@mui/material/TableSortLabel";
import { useMemo, useState } from "react";
import { Link } from "react-admin";
import { fmt } from "../common/format";
import { ProductionBadge } from "../common/ProductionBadge";
import { StatusChip } from "../common/StatusChip";
import type { CompareResponse, CompareRun } from "../types";
import { formatValue } from "./compareData";

type Column = {
  id: string;
  label: string;
  value: (r: CompareRun) => unknown;
  numeric?: boolean;
  /** Shown on hover over the header. */
  title?: string;
};

/** Explanation quality (test probe set): two runs with equal F1 can differ in how sensibly they decide. */
const EXPLANATION_COLUMNS: Column[] = [
  {
    id: "completenessGap",
    label: "completeness gap ↓",
    value: (r) => r.explanation?.completenessGap ?? null,
    numeric: true,
    title: "mean Integrated Gradients completeness gap on the probe images (lower is better)",
  },
  {
    id: "deletionAuc",
    label: "deletion AUC ↓",
    value: (r) => r.explanation?.deletionAuc ?? null,
    numeric: true,
    title: "true-class probability as the most-attributed pixels are removed (lower is better)",
  },
  {
    id: "insertionAuc",
    label: "insertion AUC ↑",
    value: (r) => r.explanation?.insertionAuc ?? null,
    numeric: true,
    title:
      "true-class probability as the most-attributed pixels are added to a black image (higher is better)",
  },
  {
    id: "maskShare",
    label: "mask share ↑",
    value: (r) => r.explanation?.maskShare ?? null,
    numeric: true,
    title: "share of positive attribution inside the lesion masks (higher is better)",
  },
];

/** Metrics and every differing config key, one row per run, sortable, paginated. */
export function CompareTable({
  data,
  colors,
  onRemove,
}: {
  data: CompareResponse;
  colors: Map<string, string>;
  onRemove: (id: string) => void;
}) {
  const [page, setPage] = useState(0);
  const [perPage, setPerPage] = useState(25);
  const [sort, setSort] = useState<{ id: string; desc: boolean }>({ id: "testF1", desc: true });

  const columns = useMemo<Column[]>(() => {
    const test = (r: CompareRun) => r.metrics?.test ?? null;
    const metricCols: Column[] = [
      { id: "testF1", label: "test F1", value: (r) => r.testF1, numeric: true },
      { id: "bestValF1", label: "best val F1", value: (r) => r.bestValF1, numeric: true },
      { id: "testAcc", label: "test accuracy", value: (r) => test(r)?.accuracy ?? null, numeric: true },
      { id: "microAp", label: "test micro AP", value: (r) => test(r)?.microAp ?? null, numeric: true },
    ];
    // Shown once any compared run has the figures (runs from before they existed have none).
    const explainCols = data.runs.some((r) => r.explanation) ? EXPLANATION_COLUMNS : [];
    const configCols: Column[] = data.configDiff.map((d) => ({
      id: `config:${d.key}`,
      label: d.key,
      value: (r) => d.values[r.id],
    }));
    return [...metricCols, ...explainCols, ...configCols];
  }, [data.configDiff, data.runs]);

  const sorted = useMemo(() => {
    const col = columns.find((c) => c.id === sort.id);
    if (!col) return data.runs;
    const key = (r: CompareRun) => col.value(r);
    return [...data.runs].sort((a, b) => {
      const va = key(a);
      const vb = key(b);
      if (va === vb) return 0;
      if (va === null || va === undefined) return 1;
      if (vb === null || vb === undefined) return -1;
      const cmp =
        typeof va === "number" && typeof vb === "number"
          ? va - vb
          : formatValue(va).localeCompare(formatValue(vb));
      return sort.desc ? -cmp : cmp;
    });
  }, [data.runs, columns, sort]);

  const rows = sorted.slice(page * perPage, page * perPage + perPage);
  const header = (c: Column) => (
    <TableSortLabel
      active={sort.id === c.id}
      direction={sort.id === c.id && sort.desc ? "desc" : "asc"}
      onClick={() => setSort({ id: c.id, desc: sort.id === c.id ? !sort.desc : true })}
    >
      {c.label}
    </TableSortLabel>
  );

  return (
    <Box data-testid="compare-table">
      <TableContainer sx={{ maxHeight: 600 }}>
        <Table size="small" stickyHeader>
          <TableHead>
            <TableRow>
              <TableCell>run</TableCell>
              <TableCell>model</TableCell>
              <TableCell>weighting</TableCell>
              <TableCell>stage</TableCell>
              <TableCell>status</TableCell>
              {columns.map((c) => (
                <TableCell
                  key={c.id}
                  align={c.numeric ? "right" : "left"}
                  title={c.title}
                  data-testid={c.id.startsWith("config:") ? undefined : `compare-col-${c.id}`}
                  sx={
                    c.id.startsWith("config:") ? { fontFamily: "monospace", bgcolor: "#fff8e1" } : undefined
                  }
                >
                  {header(c)}
                </TableCell>
              ))}
              <TableCell />
            </TableRow>
          </TableHead>
          <TableBody>
            {rows.map((r) => (
              <TableRow key={r.id} hover data-testid="compare-row">
                <TableCell sx={{ whiteSpace: "nowrap" }}>
                  <Box
                    component="span"
                    sx={{ display: "inline-block", width: 10, height: 10, borderRadius: "50%", mr: 1 }}
                    style={{ background: colors.get(r.id) }}
                  />
                  <Link to={`/runs/${encodeURIComponent(r.id)}/show`} sx={{ fontFamily: "monospace" }}>
                    {r.key}
                  </Link>
                  {r.isProduction && (
                    <Box component="span" sx={{ ml: 1 }}>
                      <ProductionBadge />
                    </Box>
                  )}
                </TableCell>
                <TableCell>{r.model}</TableCell>
                <TableCell>{r.classWeighting}</TableCell>
                <TableCell>{r.stage}</TableCell>
                <TableCell>
                  <StatusChip status={r.status} pruned={r.pruned} />
                </TableCell>
                {columns.map((c) => {
                  const v = c.value(r);
                  return (
                    <TableCell
                      key={c.id}
                      align={c.numeric ? "right" : "left"}
                      sx={{ fontVariantNumeric: "tabular-nums" }}
                    >
                      {c.numeric ? fmt(v as number | null) : formatValue(v)}
                    </TableCell>
                  );
                })}
                <TableCell>
                  <Box
                    component="button"
                    type="button"
                    aria-label={`remove ${r.key}`}
                    onClick={() => onRemove(r.id)}
                    sx={{ border: 0, background: "none", cursor: "pointer", color: "text.secondary" }}
                  >
                    ✕
                  </Box>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </TableContainer>
      <TablePagination
        component="div"
        count={sorted.length}
        page={Math.min(page, Math.max(0, Math.ceil(sorted.length / perPage) - 1))}
        rowsPerPage={perPage}
        rowsPerPageOptions={[10, 25, 50, 100]}
        onPageChange={(_, p) => setPage(p)}
        onRowsPerPageChange={(e) => {
          setPerPage(Number(e.target.value));
          setPage(0);
        }}
      />
    </Box>
  );
}
