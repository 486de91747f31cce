import Chip from "@mui/material/Chip";
import { DataTable, Link, List } from "react-admin";
import { fmtAge } from "../common/format";
import { useLiveRefresh } from "../live";
import type { WorkerRow } from "../types";

/** GPUs arrive as whatever the worker reported: a count, names, or objects with a name. */
function describeGpus(gpus: unknown): string {
  if (typeof gpus === "number") return gpus === 0 ? "none" : String(gpus);
  if (!Array.isArray(gpus)) return "–";
  if (gpus.length === 0) return "none";
  return gpus.map((g) => (typeof g === "string" ? g : ((g as { name?: string })?.name ?? "gpu"))).join(", ");
}

/** A heartbeat older than this means the worker is probably gone. */
const STALE_SEC = 60;

function Heartbeat({ worker }: { worker: WorkerRow }) {
  const age =
    worker.heartbeatAgeSec ??
    (worker.lastHeartbeat ? (Date.now() - new Date(worker.lastHeartbeat).getTime()) / 1000 : null);
  if (age === null) return <>–</>;
  const label = fmtAge(new Date(Date.now() - age * 1000).toISOString());
  return (
    <Chip size="small" label={label} color={age > STALE_SEC ? "warning" : "success"} variant="outlined" />
  );
}

export function WorkerList() {
  useLiveRefresh(true);
  return (
    <List<WorkerRow> sort={{ field: "lastHeartbeat", order: "DESC" }} perPage={25}>
      <DataTable<WorkerRow> bulkActionButtons={false} rowClick={false}>
        <DataTable.Col source="host" />
        <DataTable.Col source="id" label="Worker id" />
        <DataTable.Col label="GPUs" disableSort render={(w) => describeGpus(w.gpus)} />
        <DataTable.Col source="backend" />
        <DataTable.Col source="device" disableSort render={(w) => w.device ?? "–"} />
        <DataTable.Col source="status" />
        <DataTable.Col
          source="lastHeartbeat"
          label="Heartbeat"
          render={(w) => <Heartbeat worker={w as WorkerRow} />}
        />
        <DataTable.Col
          source="currentRunId"
          disableSort
          label="Current run"
          render={(w) =>
            w.currentRunId ? (
              <Link to={`/runs/${encodeURIComponent(w.currentRunId)}/show`}>{w.currentRunId}</Link>
            ) : (
              "idle"
            )
          }
        />
        <DataTable.Col source="version" />
      </DataTable>
    </List>
  );
}
