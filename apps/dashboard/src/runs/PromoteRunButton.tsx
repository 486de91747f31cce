import RocketLaunchIcon from "@mui/icons-material/RocketLaunch";
import { useState } from "react";
import { Button, useNotify, usePermissions, useRecordContext, useRefresh } from "react-admin";
import { apiRequest, errorMessage } from "../api";
import { roleAtLeast } from "../authProvider";
import { ConfirmDialog } from "../common/ConfirmDialog";
import {
  type OverrideState,
  PromotionGuard,
  promotionAllowed,
  promotionBody,
  usePromotionComparison,
} from "../common/PromotionGuard";
import { RunComparisonTable } from "../common/RunComparisonTable";
import { useProduction } from "../common/useProduction";
import type { RunDetail } from "../types";

/** Admin only, succeeded runs only: makes this run's best checkpoint the production model. */
export function PromoteRunButton({ task }: { task: string | undefined }) {
  const run = useRecordContext<RunDetail>();
  const { permissions } = usePermissions();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const notify = useNotify();
  const refresh = useRefresh();
  const { current } = useProduction(open ? task : undefined, open ? 1 : 0);
  const [guard, setGuard] = useState<OverrideState>({ override: false, reason: "" });
  const comparison = usePromotionComparison(
    open && run ? `/runs/${encodeURIComponent(run.id)}/promotion-comparison` : null,
  );
  if (!run || !roleAtLeast(permissions, "admin") || run.status !== "succeeded" || run.isProduction)
    return null;
  const promote = async () => {
    setBusy(true);
    try {
      const result = await apiRequest<{ version?: number }>(`/runs/${encodeURIComponent(run.id)}/promote`, {
        method: "POST",
        body: promotionBody(comparison.data, guard),
      });
      notify(`Promoted to production${result.version ? ` as v${result.version}` : ""}`, { type: "success" });
      setOpen(false);
      refresh();
    } catch (err) {
      notify(`Promotion failed: ${errorMessage(err)}`, { type: "error" });
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button label="Promote this run" onClick={() => setOpen(true)} data-testid="promote-run">
        <RocketLaunchIcon />
      </Button>
      <ConfirmDialog
        open={open}
        title={`Promote ${run.key} to production${task ? ` (${task})` : ""}?`}
        confirmLabel="Promote"
        onConfirm={promote}
        onClose={() => setOpen(false)}
        busy={busy}
        disabled={!promotionAllowed(comparison.data, guard)}
        testId="promote-dialog"
      >
        <RunComparisonTable candidate={run} current={current} />
        <PromotionGuard
          comparison={comparison.data}
          error={comparison.error}
          state={guard}
          onChange={setGuard}
        />
      </ConfirmDialog>
    </>
  );
}
