import { DataTable, List, SelectInput, TextInput } from "react-admin";
import { MetricField } from "../common/F1Field";
import { StatusField } from "../common/StatusChip";
import { CompareSelectedButton } from "../compare/CompareSelectedButton";
import type { RunRow } from "../types";
import { EpochsField } from "./EpochsField";
import { RunKeyField } from "./RunKeyField";

const statuses = ["queued", "running", "succeeded", "failed", "cancelled", "pruned"].map((id) => ({
  id,
  name: id,
}));

const filters = [
  <TextInput key="q" source="q" label="Search" alwaysOn />,
  <TextInput key="sweepId" source="sweepId" label="Sweep id" />,
  <SelectInput key="status" source="status" choices={statuses} />,
  <TextInput key="model" source="model" />,
  <SelectInput
    key="stage"
    source="stage"
    choices={[
      { id: "fe", name: "fe" },
      { id: "ft", name: "ft" },
    ]}
  />,
];

/** Every run of every sweep; sorting and paging happen on the server (10,000+ rows). */
export function RunList() {
  return (
    <List<RunRow> sort={{ field: "testF1", order: "DESC" }} filters={filters} perPage={25}>
      <DataTable<RunRow> rowClick="show" bulkActionButtons={<CompareSelectedButton />} size="small">
        <DataTable.Col source="key" label="Run" field={RunKeyField} />
        <DataTable.Col source="testF1" label="Test F1" field={MetricField} />
        <DataTable.Col source="bestValF1" label="Val F1" field={MetricField} />
        <DataTable.Col source="status" field={StatusField} />
        <DataTable.Col source="sweepId" label="Sweep" disableSort />
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
    </List>
  );
}
