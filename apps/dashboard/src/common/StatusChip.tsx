import Chip from "@mui/material/Chip";
import Tooltip from "@mui/material/Tooltip";
import { useRecordContext } from "react-admin";
import type { PruneInfo } from "../types";

const COLORS: Record<string, "default" | "info" | "primary" | "secondary" | "success" | "error" | "warning"> =
  {
    pending: "default",
    queued: "default",
    running: "info",
    succeeded: "success",
    failed: "error",
    cancelled: "warning",
    pruned: "secondary",
  };

/** A status chip; a pruned run's chip says on hover which rule stopped it and with what numbers. */
export function StatusChip({ status, pruned }: { status: string; pruned?: PruneInfo | null }) {
  const chip = (
    <Chip
      size="small"
      label={status}
      color={COLORS[status] ?? "default"}
      variant={status === "queued" || status === "pending" ? "outlined" : "filled"}
      data-testid="status-chip"
      data-status={status}
      data-reason={pruned?.reason}
    />
  );
  return pruned?.reason ? (
    <Tooltip title={pruned.reason}>
      <span>{chip}</span>
    </Tooltip>
  ) : (
    chip
  );
}

/** The record's `status` as a chip; for react-admin lists. */
export function StatusField(_props: { label?: string; sortBy?: string }) {
  const record = useRecordContext<{ status?: string; pruned?: PruneInfo | null }>();
  return record?.status ? <StatusChip status={record.status} pruned={record.pruned} /> : null;
}
