import Box from "@mui/material/Box";
import LinearProgress from "@mui/material/LinearProgress";
import Typography from "@mui/material/Typography";
import { useRecordContext } from "react-admin";
import type { SweepRow } from "../types";

/** Runs that finished their work (succeeded or pruned) out of all runs, with the other counts spelled out. */
export function SweepProgress({ sweep }: { sweep?: SweepRow }) {
  const fromContext = useRecordContext<SweepRow>();
  const s = sweep ?? fromContext;
  if (!s) return null;
  const total = s.runsTotal || 0;
  const done = (s.runsDone || 0) + (s.runsPruned || 0);
  const pct = total > 0 ? (100 * done) / total : 0;
  return (
    <Box sx={{ minWidth: 160 }} data-testid="sweep-progress" aria-label={`${done} of ${total} runs done`}>
      <LinearProgress
        variant="determinate"
        value={pct}
        color={s.runsFailed > 0 ? "warning" : s.status === "succeeded" ? "success" : "primary"}
        sx={{ height: 8, borderRadius: 4, "& .MuiLinearProgress-bar": { transition: "none" } }}
      />
      <Typography variant="caption" color="text.secondary">
        {done}/{total} done
        {s.runsRunning > 0 ? ` · ${s.runsRunning} running` : ""}
        {s.runsFailed > 0 ? ` · ${s.runsFailed} failed` : ""}
        {s.runsPruned > 0 ? ` · ${s.runsPruned} pruned` : ""}
      </Typography>
    </Box>
  );
}
