import { useRecordContext } from "react-admin";
import type { RunRow } from "../types";

export function EpochsField(_props: { label?: string; source?: string }) {
  const run = useRecordContext<RunRow>();
  if (!run) return null;
  return (
    <span style={{ fontVariantNumeric: "tabular-nums" }}>
      {run.epochsDone}
      {run.epochs ? `/${run.epochs}` : ""}
      {run.bestEpoch !== null && run.bestEpoch !== undefined ? ` (best ${run.bestEpoch})` : ""}
    </span>
  );
}
