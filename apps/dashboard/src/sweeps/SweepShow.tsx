import CompareArrowsIcon from "@mui/icons-material/CompareArrows";
import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Stack from "@mui/material/Stack";
import Typography from "@mui/material/Typography";
import {
  Button,
  DataTable,
  Link,
  Pagination,
  ReferenceManyField,
  Show,
  TopToolbar,
  useNavigate,
  useRecordContext,
} from "react-admin";
import { MetricField } from "../common/F1Field";
import { formatParams } from "../common/format";
import { ProductionBadge } from "../common/ProductionBadge";
import { StatusChip, StatusField } from "../common/StatusChip";
import { CompareSelectedButton } from "../compare/CompareSelectedButton";
import { useLiveRefresh } from "../live";
import { EpochsField } from "../runs/EpochsField";
import { RankField } from "../runs/RankField";
import { RunKeyField } from "../runs/RunKeyField";
import type { RunRow, SweepDetail, SweepSearch } from "../types";
import { CancelSweepButton } from "./CancelSweepButton";
import { PromoteBestButton } from "./PromoteBestButton";
import { SweepAnalysisSection } from "./SweepAnalysis";
import { SweepProgress } from "./SweepProgress";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

function CompareSweepButton() {
  const sweep = useRecordContext<SweepDetail>();
  const navigate = useNavigate();
  if (!sweep) return null;
  return (
    <Button
      label="Compare all runs"
      onClick={() => navigate(`/compare?sweep=${encodeURIComponent(sweep.id)}`)}
      data-testid="compare-sweep"
    >
      <CompareArrowsIcon />
    </Button>
  );
}

function SweepActions() {
  return (
    <TopToolbar>
      <CompareSweepButton />
      <CancelSweepButton />
      <PromoteBestButton />
    </TopToolbar>
  );
}

function SweepHeader() {
  const sweep = useRecordContext<SweepDetail>();
  useLiveRefresh(!!sweep && !FINISHED.has(sweep.status), sweep?.id);
  if (!sweep) return null;
  return (
    <Card variant="outlined" sx={{ mb: 2 }}>
      <CardContent>
        <Stack sx={{ alignItems: "center", flexWrap: "wrap" }} direction="row" spacing={2} useFlexGap>
          <Typography variant="h5" data-testid="sweep-name">
            {sweep.name}
          </Typography>
          <StatusChip status={sweep.status} />
          <Typography color="text.secondary">task {sweep.task}</Typography>
          <Typography color="text.secondary">
            by {sweep.createdBy}, {new Date(sweep.createdAt).toLocaleString()}
          </Typography>
          <Box sx={{ flex: 1, minWidth: 220, maxWidth: 360 }}>
            <SweepProgress sweep={sweep} />
          </Box>
          <Typography>
            best test F1 <b>{sweep.bestTestF1 === null ? "–" : sweep.bestTestF1.toFixed(3)}</b>
          </Typography>
          {sweep.production && (
            <Stack sx={{ alignItems: "center" }} direction="row" spacing={1}>
              <ProductionBadge version={sweep.production.version} />
              <Link to={`/runs/${encodeURIComponent(sweep.production.runId)}/show`}>
                {sweep.production.runId.split(".").pop()}
              </Link>
            </Stack>
          )}
        </Stack>
        {sweep.search && (sweep.search.method !== "grid" || sweep.search.earlyTerminate) ? (
          <SearchSummary search={sweep.search} />
        ) : null}
        {sweep.error && (
          <Alert severity="error" sx={{ mt: 2 }}>
            {sweep.error}
          </Alert>
        )}
      </CardContent>
    </Card>
  );
}

function formatSpec(spec: unknown): string {
  if (Array.isArray(spec))
    return `[${spec.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(", ")}]`;
  const [kind, args] = Object.entries(spec as Record<string, unknown>)[0] ?? ["?", []];
  return `${kind}(${(args as unknown[]).map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(", ")})`;
}

/** How the sweep searches: its method, space and early-termination rule. */
function SearchSummary({ search }: { search: SweepSearch }) {
  const et = search.earlyTerminate;
  return (
    <Box data-testid="sweep-search" sx={{ mt: 2 }}>
      <Typography variant="body2">
        <b>{search.method}</b>
        {search.method !== "grid" && ` · ${search.runs} points · seed ${search.seed}`}
        {et &&
          ` · early termination: ${et.method} on ${et.metric} from epoch ${et.minEpochs}${
            et.method === "asha" ? `, top 1/${et.reductionFactor} go on` : `, median of ${et.minRuns}+ runs`
          }`}
      </Typography>
      <Box component="ul" sx={{ m: 0, pl: 3, fontFamily: "monospace", fontSize: 13 }}>
        {Object.entries(search.space).map(([axis, spec]) => (
          <li key={axis}>
            {axis}: {formatSpec(spec)}
          </li>
        ))}
      </Box>
    </Box>
  );
}

/** Random/bayes sweeps: each point of the space and how its runs did, in the order they were drawn or proposed. */
function Points() {
  const sweep = useRecordContext<SweepDetail>();
  if (!sweep?.search || sweep.search.method === "grid") return null;
  return (
    <Box data-testid="sweep-points" sx={{ mb: 3, overflowX: "auto" }}>
      <Typography variant="h6" sx={{ mb: 1 }}>
        {sweep.search.method === "bayes" ? "Proposals (newest last)" : "Points drawn"}
      </Typography>
      <ReferenceManyField<SweepDetail, RunRow>
        reference="runs"
        target="sweepId"
        sort={{ field: "trial", order: "ASC" }}
        perPage={100}
        pagination={<Pagination rowsPerPageOptions={[50, 100]} />}
      >
        <DataTable<RunRow> rowClick="show" bulkActionButtons={false} size="small">
          <DataTable.Col source="trial" label="#" />
          <DataTable.Col source="stage" />
          <DataTable.Col
            source="params"
            label="Values"
            disableSort
            render={(r: RunRow) => formatParams(r.params)}
            cellSx={() => ({ fontFamily: "monospace", whiteSpace: "nowrap" })}
          />
          <DataTable.Col source="status" field={StatusField} />
          <DataTable.Col source="bestValF1" label="Val F1" field={MetricField} />
          <DataTable.Col source="epochsDone" label="Epochs" field={EpochsField} />
          <DataTable.Col
            source="pruned"
            label="Pruned because"
            disableSort
            render={(r: RunRow) => r.pruned?.reason ?? ""}
            cellSx={() => ({ fontSize: 12, color: "text.secondary" })}
          />
        </DataTable>
      </ReferenceManyField>
    </Box>
  );
}

function Leaderboard() {
  return (
    <Box data-testid="leaderboard" sx={{ overflowX: "auto" }}>
      <Typography variant="h6" sx={{ mb: 1 }}>
        Leaderboard (test weighted F1)
      </Typography>
      <ReferenceManyField<SweepDetail, RunRow>
        reference="runs"
        target="sweepId"
        sort={{ field: "testF1", order: "DESC" }}
        perPage={50}
        pagination={<Pagination rowsPerPageOptions={[25, 50, 100]} />}
      >
        <DataTable<RunRow> rowClick="show" bulkActionButtons={<CompareSelectedButton />} size="small">
          <DataTable.Col label="#" disableSort field={RankField} />
          <DataTable.Col source="key" label="Run" field={RunKeyField} />
          <DataTable.Col source="testF1" label="Test F1" field={MetricField} />
          <DataTable.Col source="bestValF1" label="Val F1" field={MetricField} />
          <DataTable.Col source="status" field={StatusField} />
          <DataTable.Col source="model" />
          <DataTable.Col source="classWeighting" label="Weighting" />
          <DataTable.Col source="stage" />
          <DataTable.Col source="epochsDone" label="Epochs" field={EpochsField} />
          <DataTable.Col
            source="workerId"
            label="Worker"
            disableSort
            cellSx={() => ({ whiteSpace: "nowrap" })}
          />
        </DataTable>
      </ReferenceManyField>
    </Box>
  );
}

function SweepSource() {
  const sweep = useRecordContext<SweepDetail>();
  if (!sweep?.sourceYaml) return null;
  return (
    <Box component="details" sx={{ mt: 3 }}>
      <summary>Sweep file</summary>
      <Box component="pre" sx={{ p: 2, bgcolor: "grey.100", overflow: "auto", fontSize: 13 }}>
        {sweep.sourceYaml}
      </Box>
    </Box>
  );
}

export function SweepShow() {
  return (
    <Show<SweepDetail> actions={<SweepActions />}>
      <Box sx={{ p: 2 }}>
        <SweepHeader />
        <Points />
        <Leaderboard />
        <SweepAnalysisSection />
        <SweepSource />
      </Box>
    </Show>
  );
}
