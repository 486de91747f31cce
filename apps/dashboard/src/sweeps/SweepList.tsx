import { CreateButton, DataTable, List, TextInput, TopToolbar, usePermissions } from "react-admin";
import { roleAtLeast } from "../authProvider";
import { MetricField } from "../common/F1Field";
import { StatusField } from "../common/StatusChip";
import { useLiveRefresh } from "../live";
import type { SweepRow } from "../types";
import { SweepProgress } from "./SweepProgress";

const filters = [
  <TextInput key="q" source="q" label="Search" alwaysOn />,
  <TextInput key="task" source="task" />,
];

function SweepListActions() {
  const { permissions } = usePermissions();
  return (
    <TopToolbar>
      {roleAtLeast(permissions, "operator") && (
        <CreateButton to="/submit" label="Submit sweep" data-testid="nav-submit-sweep" />
      )}
    </TopToolbar>
  );
}

export function SweepList() {
  useLiveRefresh(true);
  return (
    <List<SweepRow>
      sort={{ field: "createdAt", order: "DESC" }}
      filters={filters}
      actions={<SweepListActions />}
      perPage={25}
      disableSyncWithLocation={false}
    >
      <DataTable<SweepRow> rowClick="show" bulkActionButtons={false} data-testid="sweep-list">
        <DataTable.Col source="name" />
        <DataTable.Col source="task" />
        <DataTable.Col source="status" field={StatusField} />
        <DataTable.Col
          label="Progress"
          disableSort
          render={(record) => <SweepProgress sweep={record as SweepRow} />}
        />
        <DataTable.Col source="bestTestF1" label="Best test F1" field={MetricField} disableSort />
        <DataTable.Col source="createdBy" label="By" />
        <DataTable.Col
          source="createdAt"
          label="Created"
          render={(r) => new Date(r.createdAt).toLocaleString()}
        />
      </DataTable>
    </List>
  );
}
