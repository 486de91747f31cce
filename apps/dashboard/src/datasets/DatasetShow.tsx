import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import MenuItem from "@mui/material/MenuItem";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import type {
  DatasetDetail,
  DatasetImage,
  DatasetRow,
  DatasetVersion,
  VersionRun,
} from "@xnn/shared/records";
import { useEffect, useMemo, useState } from "react";
import { Show, useRecordContext } from "react-admin";
import { errorMessage, httpClient } from "../api";
import { apiUrl } from "../config";
import { useApiQuery } from "../useApiQuery";
import { ClassCountsChart } from "./ClassCountsChart";
import { ImageDialog } from "./ImageDialog";
import { Thumbnail } from "./Thumbnail";

/** A data set as the show page gets it: its versions arrive with GET /datasets/:id, not with the list. */
type DatasetRecord = DatasetRow & Partial<Pick<DatasetDetail, "versionList">>;

const PAGE = 48;
const TILE = 128;

interface GridFilter {
  split: string;
  className: string;
  runId: string;
  predicted: string;
  correct: string;
  sort: string;
}

const EMPTY: GridFilter = {
  split: "test",
  className: "",
  runId: "",
  predicted: "",
  correct: "",
  sort: "path",
};

/** One page of the grid from the API, and the filtered total from its Content-Range. */
function useImagePage(versionId: string | undefined, filter: GridFilter, page: number) {
  const [state, setState] = useState<{
    rows: DatasetImage[];
    total: number;
    error?: string;
    loading: boolean;
  }>({
    rows: [],
    total: 0,
    loading: false,
  });
  const query = useMemo(() => {
    const f: Record<string, unknown> = {};
    if (filter.split) f.split = filter.split;
    if (filter.className) f.class = filter.className;
    if (filter.runId) {
      f.runId = filter.runId;
      if (filter.predicted) f.predicted = filter.predicted;
      if (filter.correct) f.correct = filter.correct === "correct";
    }
    const [field, order] = filter.runId && filter.sort !== "path" ? filter.sort.split(":") : ["path", "ASC"];
    return `filter=${encodeURIComponent(JSON.stringify(f))}&sort=${encodeURIComponent(JSON.stringify([field, order]))}&range=${encodeURIComponent(JSON.stringify([page * PAGE, page * PAGE + PAGE - 1]))}`;
  }, [filter, page]);
  useEffect(() => {
    if (!versionId) return;
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    httpClient(apiUrl(`/dataset-versions/${encodeURIComponent(versionId)}/images?${query}`))
      .then(({ headers, json }) => {
        const total = Number((headers.get("content-range") ?? "").split("/")[1] ?? 0);
        if (live) setState({ rows: json as DatasetImage[], total, loading: false });
      })
      .catch((err: unknown) => {
        if (live) setState({ rows: [], total: 0, error: errorMessage(err), loading: false });
      });
    return () => {
      live = false;
    };
  }, [versionId, query]);
  return state;
}

function select(
  label: string,
  value: string,
  onChange: (v: string) => void,
  options: [string, string][],
  testId: string,
) {
  return (
    <TextField
      select
      size="small"
      label={label}
      value={value}
      onChange={(e) => onChange(e.target.value)}
      fullWidth={false}
      sx={{ width: 200 }}
      slotProps={{ htmlInput: { "data-testid": testId } }}
    >
      {options.map(([v, name]) => (
        <MenuItem key={v} value={v}>
          {name}
        </MenuItem>
      ))}
    </TextField>
  );
}

function VersionView({ version }: { version: DatasetVersion }) {
  const [filter, setFilter] = useState<GridFilter>(EMPTY);
  const [page, setPage] = useState(0);
  const [open, setOpen] = useState<DatasetImage | null>(null);
  const runs = useApiQuery<VersionRun[]>(`/dataset-versions/${encodeURIComponent(version.id)}/runs`);
  const grid = useImagePage(version.id, filter, page);
  const set = (patch: Partial<GridFilter>) => {
    setFilter((f) => ({ ...f, ...patch }));
    setPage(0);
  };
  const classes: [string, string][] = [
    ["", "all"],
    ...version.classNames.map((c): [string, string] => [c, c]),
  ];
  const pages = Math.max(1, Math.ceil(grid.total / PAGE));
  return (
    <Stack spacing={2}>
      <Card variant="outlined">
        <CardContent>
          <Typography variant="subtitle1">
            Version {version.fingerprint.slice(0, 12)}: {version.imageCount} images, registered by{" "}
            {version.registeredBy}, {version.runs} run(s)
          </Typography>
          <Typography variant="body2" color="text.secondary">
            Formats{" "}
            {Object.entries(version.formats)
              .map(([f, n]) => `${f} ${n}`)
              .join(", ")}
            ; sizes {version.sizes.minWidth}-{version.sizes.maxWidth} x {version.sizes.minHeight}-
            {version.sizes.maxHeight} px; {version.maskCount} lesion masks
          </Typography>
          {version.unreadable.length > 0 && (
            <Alert severity="warning" sx={{ mt: 1 }} data-testid="unreadable">
              {version.unreadable.length} unreadable file(s):{" "}
              {version.unreadable
                .slice(0, 5)
                .map((u) => `${u.path} (${u.reason})`)
                .join("; ")}
              {version.unreadable.length > 5 ? "; ..." : ""}
            </Alert>
          )}
          <ClassCountsChart classNames={version.classNames} classCounts={version.classCounts} />
        </CardContent>
      </Card>
      <Stack direction="row" spacing={1} useFlexGap sx={{ flexWrap: "wrap" }} data-testid="image-filters">
        {select(
          "Split",
          filter.split,
          (v) => set({ split: v }),
          [
            ["", "all"],
            ["train", "train"],
            ["val", "val"],
            ["test", "test"],
          ],
          "filter-split",
        )}
        {select("Class", filter.className, (v) => set({ className: v }), classes, "filter-class")}
        {select(
          "Run",
          filter.runId,
          (v) => set({ runId: v, predicted: "", correct: "", sort: "path" }),
          [
            ["", "none"],
            ...(runs.data ?? []).map((r): [string, string] => [
              r.id,
              `${r.key} (F1 ${r.testF1?.toFixed(3) ?? "-"})`,
            ]),
          ],
          "filter-run",
        )}
        {filter.runId &&
          select("Predicted", filter.predicted, (v) => set({ predicted: v }), classes, "filter-predicted")}
        {filter.runId &&
          select(
            "Outcome",
            filter.correct,
            (v) => set({ correct: v }),
            [
              ["", "all"],
              ["correct", "correct"],
              ["wrong", "wrong"],
            ],
            "filter-correct",
          )}
        {filter.runId &&
          select(
            "Sort",
            filter.sort,
            (v) => set({ sort: v }),
            [
              ["path", "path"],
              ["confidence:DESC", "confidence, high first"],
              ["confidence:ASC", "confidence, low first"],
              ["loss:DESC", "loss, high first"],
            ],
            "filter-sort",
          )}
      </Stack>
      {grid.error && <Alert severity="error">{grid.error}</Alert>}
      <Typography variant="body2" data-testid="image-total">
        {grid.total} images
      </Typography>
      <Box
        data-testid="image-grid"
        sx={{ display: "grid", gridTemplateColumns: `repeat(auto-fill, minmax(${TILE + 8}px, 1fr))`, gap: 1 }}
      >
        {grid.rows.map((im) => (
          <Box
            key={im.path}
            data-testid="image-tile"
            onClick={() => setOpen(im)}
            sx={{
              cursor: "pointer",
              p: 0.5,
              border: 2,
              borderColor: im.prediction
                ? im.prediction.correct
                  ? "success.main"
                  : "error.main"
                : "divider",
              fontSize: 11,
            }}
            title={im.path}
          >
            <Thumbnail versionId={version.id} path={im.path} size={TILE} mask={false} alt={im.path} />
            <div>{im.className}</div>
            {im.prediction && (
              <div>
                {im.prediction.predictedClass} {im.prediction.confidence.toFixed(2)}
              </div>
            )}
          </Box>
        ))}
      </Box>
      <Stack direction="row" spacing={1} sx={{ alignItems: "center" }}>
        <Button disabled={page === 0} onClick={() => setPage((p) => p - 1)}>
          Previous
        </Button>
        <Typography variant="body2">
          Page {page + 1} of {pages}
        </Typography>
        <Button disabled={page + 1 >= pages} onClick={() => setPage((p) => p + 1)}>
          Next
        </Button>
      </Stack>
      <ImageDialog versionId={version.id} image={open} onClose={() => setOpen(null)} />
    </Stack>
  );
}

function DatasetContent() {
  const dataset = useRecordContext<DatasetRecord>();
  const [versionId, setVersionId] = useState<string | null>(null);
  const versions = dataset?.versionList ?? [];
  const version = versions.find((v) => v.id === versionId) ?? versions[0];
  if (!dataset) return null;
  if (!version) return <Alert severity="info">This data set has no registered version.</Alert>;
  return (
    <Box sx={{ p: 2 }}>
      <Typography variant="h6">
        {dataset.name}{" "}
        <Typography component="span" color="text.secondary">
          {dataset.root}
        </Typography>
      </Typography>
      {versions.length > 1 && (
        <TextField
          select
          size="small"
          label="Version"
          value={version.id}
          onChange={(e) => setVersionId(e.target.value)}
          sx={{ my: 1, minWidth: 320 }}
        >
          {versions.map((v) => (
            <MenuItem key={v.id} value={v.id}>
              {v.fingerprint.slice(0, 12)} ({new Date(v.createdAt).toLocaleString()}, {v.runs} runs)
            </MenuItem>
          ))}
        </TextField>
      )}
      <VersionView key={version.id} version={version} />
    </Box>
  );
}

/** What FiftyOne gave the study: class balance per split, the images, and where a run goes wrong. */
export function DatasetShow() {
  return (
    <Show>
      <DatasetContent />
    </Show>
  );
}
