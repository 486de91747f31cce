import { PRODUCTION_ALIAS } from "@xnn/shared/records";
import { DataTable, Link, List, TextInput } from "react-admin";
import { fmt } from "../common/format";
import { ProductionBadge } from "../common/ProductionBadge";
import type { ModelVersionRow } from "../types";

const filters = [<TextInput key="task" source="task" alwaysOn />];

export function ModelVersionList() {
  return (
    <List<ModelVersionRow> sort={{ field: "createdAt", order: "DESC" }} filters={filters} perPage={25}>
      <DataTable<ModelVersionRow> bulkActionButtons={false} rowClick={false}>
        <DataTable.Col source="task" />
        <DataTable.Col source="version" render={(v) => `v${v.version}`} />
        <DataTable.Col
          source="alias"
          label="Alias"
          render={(v) => (v.alias === PRODUCTION_ALIAS ? <ProductionBadge /> : (v.alias ?? ""))}
        />
        <DataTable.Col
          source="runId"
          disableSort
          label="Run"
          render={(v) => <Link to={`/runs/${encodeURIComponent(v.runId)}/show`}>{v.runKey}</Link>}
        />
        <DataTable.Col label="Test F1" disableSort render={(v) => fmt(v.testF1)} />
        <DataTable.Col
          source="createdAt"
          label="Created"
          render={(v) => new Date(v.createdAt).toLocaleString()}
        />
      </DataTable>
    </List>
  );
}
