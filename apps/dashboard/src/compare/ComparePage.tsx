import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Chip from "@mui/material/Chip";
import LinearProgress from "@mui/material/LinearProgress";
import Stack from "@mui/material/Stack";
import Typography from "@mui/material/Typography";
import { type ReactNode, useEffect, useMemo } from "react";
import { Title, useDataProvider, useLocation, useNavigate } from "react-admin";
import type { CompareResponse, RunRow } from "../types";
import { useApiQuery } from "../useApiQuery";
import { CompareMetricCharts, ComparePrCurves } from "./CompareCharts";
import { CompareConfusions } from "./CompareConfusions";
import { compareLink } from "./CompareSelectedButton";
import { CompareTable } from "./CompareTable";
import { runColors } from "./compareData";
import { RunPicker } from "./RunPicker";

/** More runs than this are not sent to /api/compare at once. */
export const MAX_COMPARED_RUNS = 200;
const CHIPS_SHOWN = 24;

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Card variant="outlined" sx={{ mb: 2 }}>
      <CardContent>
        <Typography variant="h6" gutterBottom>
          {title}
        </Typography>
        {children}
      </CardContent>
    </Card>
  );
}

function useSelection(): { ids: string[]; sweepId: string | null; setIds: (ids: string[]) => void } {
  const location = useLocation();
  const navigate = useNavigate();
  const params = new URLSearchParams(location.search);
  const raw = params.get("runs") ?? "";
  const ids = useMemo(
    () => [
      ...new Set(
        raw
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      ),
    ],
    [raw],
  );
  return {
    ids,
    sweepId: params.get("sweep"),
    setIds: (next) => navigate(compareLink(next), { replace: true }),
  };
}

/** Loads every run of `?sweep=` (best first, at most MAX_COMPARED_RUNS) into the selection. */
function useSweepSelection(sweepId: string | null, setIds: (ids: string[]) => void) {
  const dataProvider = useDataProvider();
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs once per sweep id; setIds changes every render.
  useEffect(() => {
    if (!sweepId) return;
    dataProvider
      .getList<RunRow>("runs", {
        filter: { sweepId },
        sort: { field: "testF1", order: "DESC" },
        pagination: { page: 1, perPage: MAX_COMPARED_RUNS },
      })
      .then(({ data }) => setIds(data.map((r) => r.id)));
  }, [dataProvider, sweepId]);
}

export function ComparePage() {
  const { ids, sweepId, setIds } = useSelection();
  useSweepSelection(sweepId, setIds);
  const requested = ids.slice(0, MAX_COMPARED_RUNS);
  const path = requested.length > 0 ? `/compare?runs=${requested.map(encodeURIComponent).join(",")}` : null;
  const { data, error, loading } = useApiQuery<CompareResponse>(path);
  const colors = useMemo(() => runColors(data?.runs ?? []), [data]);
  const selected = useMemo(() => new Set(ids), [ids]);
  const keyOf = useMemo(() => new Map((data?.runs ?? []).map((r) => [r.id, r.key])), [data]);

  return (
    <Box sx={{ p: 2 }} data-testid="compare-page">
      <Title title="Compare runs" />
      <Section title={`Runs compared (${ids.length})`}>
        <Stack sx={{ alignItems: "center", flexWrap: "wrap" }} direction="row" spacing={1} useFlexGap>
          {ids.slice(0, CHIPS_SHOWN).map((id) => (
            <Chip
              key={id}
              label={keyOf.get(id) ?? id}
              onDelete={() => setIds(ids.filter((x) => x !== id))}
              sx={{ borderLeft: `6px solid ${colors.get(id) ?? "#ccc"}` }}
            />
          ))}
          {ids.length > CHIPS_SHOWN && (
            <Chip variant="outlined" label={`+${ids.length - CHIPS_SHOWN} more`} />
          )}
          <RunPicker exclude={selected} onAdd={(add) => setIds([...ids, ...add])} />
          {ids.length > 0 && (
            <Button size="small" onClick={() => setIds([])}>
              Clear
            </Button>
          )}
        </Stack>
        {ids.length > MAX_COMPARED_RUNS && (
          <Alert severity="info" sx={{ mt: 2 }}>
            Showing the first {MAX_COMPARED_RUNS} of {ids.length} selected runs.
          </Alert>
        )}
      </Section>
      {loading && <LinearProgress sx={{ mb: 2 }} />}
      {error && (
        <Alert severity="error" sx={{ mb: 2 }}>
          {error}
        </Alert>
      )}
      {ids.length === 0 && (
        <Alert severity="info">
          Pick runs above, or select rows in a leaderboard and choose “Compare selected”.
        </Alert>
      )}
      {data && ids.length > 0 && (
        <>
          <Section title="Metrics and config differences">
            <CompareTable
              data={data}
              colors={colors}
              onRemove={(id) => setIds(ids.filter((x) => x !== id))}
            />
          </Section>
          <Section title="Training curves">
            <CompareMetricCharts runs={data.runs} colors={colors} />
          </Section>
          <Section title="Precision-recall curves (test)">
            <ComparePrCurves runs={data.runs} colors={colors} />
          </Section>
          <Section title="Confusion matrices (test)">
            <CompareConfusions runs={data.runs} />
          </Section>
        </>
      )}
    </Box>
  );
}
