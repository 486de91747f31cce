import Chip from "@mui/material/Chip";
import { AUDIT_ACTIONS, AUDIT_OUTCOMES } from "@xnn/shared/records";
import { DataTable, List, SelectInput, TextInput } from "react-admin";
import type { AuditEventRow } from "../types";

const filters = [
  <SelectInput
    key="action"
    source="action"
    choices={AUDIT_ACTIONS.map((a) => ({ id: a, name: a }))}
    alwaysOn
  />,
  <SelectInput
    key="outcome"
    source="outcome"
    choices={AUDIT_OUTCOMES.map((o) => ({ id: o, name: o }))}
    alwaysOn
  />,
  <TextInput key="actor" source="actor" label="Token name" />,
  <TextInput key="targetId" source="targetId" label="Target id" />,
];

const OUTCOME_COLOR = { ok: "success", denied: "warning", rejected: "default", error: "error" } as const;

function Outcome({ row }: { row: AuditEventRow }) {
  const color = OUTCOME_COLOR[row.outcome as keyof typeof OUTCOME_COLOR] ?? "default";
  return <Chip size="small" variant="outlined" color={color} label={`${row.outcome} (${row.status})`} />;
}

/** Every attempted mutation through the API, newest first (admins only; the API refuses others). */
export function AuditList() {
  return (
    <List<AuditEventRow> sort={{ field: "createdAt", order: "DESC" }} filters={filters} perPage={50}>
      <DataTable<AuditEventRow> bulkActionButtons={false} rowClick={false}>
        <DataTable.Col
          source="createdAt"
          label="Time"
          render={(e) => new Date(e.createdAt).toLocaleString()}
        />
        <DataTable.Col
          source="actor"
          label="Token"
          render={(e) => `${e.actor ?? "?"} (${e.actorRole ?? "?"})`}
        />
        <DataTable.Col source="action" />
        <DataTable.Col source="targetId" label="Target" />
        <DataTable.Col source="outcome" render={(e) => <Outcome row={e as AuditEventRow} />} />
        <DataTable.Col source="message" disableSort label="Message" />
        <DataTable.Col source="ip" disableSort label="Address" />
      </DataTable>
    </List>
  );
}
