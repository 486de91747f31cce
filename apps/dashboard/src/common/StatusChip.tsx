import Chip from "@mui/material/Chip";
import { useRecordContext } from "react-admin";

const COLORS: Record<string, "default" | "info" | "primary" | "success" | "error" | "warning"> = {
  pending: "default",
  queued: "default",
  running: "info",
  succeeded: "success",
  failed: "error",
  cancelled: "warning",
};

export function StatusChip({ status }: { status: string }) {
  return (
    <Chip
      size="small"
      label={status}
      color={COLORS[status] ?? "default"}
      variant={status === "queued" || status === "pending" ? "outlined" : "filled"}
      data-testid="status-chip"
      data-status={status}
    />
  );
}

/** The record's `status` as a chip; for react-admin lists. */
export function StatusField(_props: { label?: string; sortBy?: string }) {
  const record = useRecordContext<{ status?: string }>();
  return record?.status ? <StatusChip status={record.status} /> : null;
}
