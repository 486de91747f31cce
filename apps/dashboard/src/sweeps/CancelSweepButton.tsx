import CancelIcon from "@mui/icons-material/Cancel";
import { useState } from "react";
import { Button, Confirm, useNotify, usePermissions, useRecordContext, useRefresh } from "react-admin";
import { apiRequest, errorMessage } from "../api";
import { roleAtLeast } from "../authProvider";
import type { SweepDetail } from "../types";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/** Operator and up: cancels the sweep's queued and running runs. */
export function CancelSweepButton() {
  const sweep = useRecordContext<SweepDetail>();
  const { permissions } = usePermissions();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const notify = useNotify();
  const refresh = useRefresh();
  if (!sweep || !roleAtLeast(permissions, "operator") || FINISHED.has(sweep.status)) return null;
  return (
    <>
      <Button label="Cancel sweep" color="error" onClick={() => setOpen(true)} data-testid="cancel-sweep">
        <CancelIcon />
      </Button>
      <Confirm
        isOpen={open}
        loading={busy}
        title={`Cancel ${sweep.name}?`}
        content="Queued runs are removed and running runs stop at their next epoch. Finished runs are kept."
        onConfirm={async () => {
          setBusy(true);
          try {
            await apiRequest(`/sweeps/${encodeURIComponent(sweep.id)}/cancel`, { method: "POST" });
            notify("Sweep cancelled", { type: "info" });
            refresh();
          } catch (err) {
            notify(`Cancel failed: ${errorMessage(err)}`, { type: "error" });
          } finally {
            setBusy(false);
            setOpen(false);
          }
        }}
        onClose={() => setOpen(false)}
      />
    </>
  );
}
