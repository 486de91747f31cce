import { useRecordContext } from "react-admin";
import { fmt } from "./format";

/** A numeric metric with three decimals, "–" while unknown. */
export function MetricField({ source }: { source: string; label?: string; sortable?: boolean }) {
  const record = useRecordContext<Record<string, unknown>>();
  const value = record?.[source];
  return (
    <span style={{ fontVariantNumeric: "tabular-nums" }}>
      {fmt(typeof value === "number" ? value : null)}
    </span>
  );
}
