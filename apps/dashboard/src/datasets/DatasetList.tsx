import { DataTable, DateField, List } from "react-admin";

/** Every registered data set (a folder root or a store URL) with how many contents it has had. */
export function DatasetList() {
  return (
    <List sort={{ field: "updatedAt", order: "DESC" }} perPage={25}>
      <DataTable rowClick="show" data-testid="dataset-list">
        <DataTable.Col source="name" />
        <DataTable.Col source="root" disableSort />
        <DataTable.Col source="versions" label="Versions" disableSort />
        <DataTable.Col source="updatedAt" label="Last registered">
          <DateField source="updatedAt" showTime />
        </DataTable.Col>
      </DataTable>
    </List>
  );
}
