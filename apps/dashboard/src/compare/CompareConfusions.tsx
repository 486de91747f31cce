import Box from "@mui/material/Box";
import Pagination from "@mui/material/Pagination";
import Typography from "@mui/material/Typography";
import { useState } from "react";
import { ConfusionHeatmap } from "../charts/ConfusionHeatmap";
import type { CompareRun } from "../types";
import { testConfusion } from "./compareData";

const PER_PAGE = 6;

/** Test confusion matrices side by side, a page at a time. */
export function CompareConfusions({ runs }: { runs: CompareRun[] }) {
  const [page, setPage] = useState(1);
  const withMatrix = runs.filter((r) => testConfusion(r));
  if (withMatrix.length === 0) return <Typography color="text.secondary">No confusion matrices.</Typography>;
  const pages = Math.ceil(withMatrix.length / PER_PAGE);
  const current = Math.min(page, pages);
  const shown = withMatrix.slice((current - 1) * PER_PAGE, current * PER_PAGE);
  return (
    <Box data-testid="compare-confusions">
      <Box sx={{ display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(260px, 1fr))", gap: 3 }}>
        {shown.map((r) => (
          <ConfusionHeatmap
            key={r.id}
            confusion={testConfusion(r)!}
            title={`${r.key}${r.testF1 !== null ? ` · F1 ${r.testF1.toFixed(3)}` : ""}`}
            compact
          />
        ))}
      </Box>
      {pages > 1 && (
        <Pagination sx={{ mt: 2 }} count={pages} page={current} onChange={(_, p) => setPage(p)} />
      )}
    </Box>
  );
}
