import RocketLaunchIcon from "@mui/icons-material/RocketLaunch";
import Alert from "@mui/material/Alert";
import { useState } from "react";
import { Button, useGetList, useNotify, usePermissions, useRecordContext, useRefresh } from "react-admin";
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
import type { RunRow, SweepDetail } from "../types";

/** Admin only: makes the sweep's best run by test weighted F1 the task's production model. */
export function PromoteBestButton() {
  const sweep = useRecordContext<SweepDetail>();
  const { permissions } = usePermissions();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const notify = useNotify();
  const refresh = useRefresh();
  const { data: best } = useGetList<RunRow>(
    "runs",
    {
      filter: { sweepId: sweep?.id, status: "succeeded" },
      sort: { field: "testF1", order: "DESC" },
      pagination: { page: 1, perPage: 1 },
    },
    { enabled: open && !!sweep },
  );
  const { current } = useProduction(open ? sweep?.task : undefined, open ? 1 : 0);
  const [guard, setGuard] = useState<OverrideState>({ override: false, reason: "" });
  const comparison = usePromotionComparison(
    open && sweep && sweep.runsDone > 0
      ? `/sweeps/${encodeURIComponent(sweep.id)}/promotion-comparison`
      : null,
  );
  if (!sweep || !roleAtLeast(permissions, "admin")) return null;
  const candidate = best?.[0];
  const alreadyProduction = !!candidate && candidate.isProduction;

  const promote = async () => {
    setBusy(true);
    try {
      const result = await apiRequest<{ version?: number; changed?: boolean }>(
        `/sweeps/${encodeURIComponent(sweep.id)}/promote-best`,
        { method: "POST", body: promotionBody(comparison.data, guard) },
      );
      notify(
        result.changed === false
          ? "That run already is the production model"
          : `Promoted to production${result.version ? ` as v${result.version}` : ""}`,
        { type: "success" },
      );
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
      <Button
        label="Promote best F1"
        onClick={() => setOpen(true)}
        data-testid="promote-best"
        disabled={sweep.runsDone === 0}
      >
        <RocketLaunchIcon />
      </Button>
      <ConfirmDialog
        open={open}
        title={`Promote the best run of ${sweep.name} to production (${sweep.task})?`}
        confirmLabel="Promote"
        onConfirm={promote}
        onClose={() => setOpen(false)}
        busy={busy}
        disabled={!candidate || alreadyProduction || !promotionAllowed(comparison.data, guard)}
        testId="promote-dialog"
      >
        {candidate ? (
          <>
            {alreadyProduction && (
              <Alert severity="info" sx={{ mb: 2 }}>
                The best run already is the production model.
              </Alert>
            )}
            <RunComparisonTable candidate={candidate} current={current} />
            {!alreadyProduction && (
              <PromotionGuard
                comparison={comparison.data}
                error={comparison.error}
                state={guard}
                onChange={setGuard}
              />
            )}
          </>
        ) : (
          <Alert severity="warning">This sweep has no succeeded run yet.</Alert>
        )}
      </ConfirmDialog>
    </>
  );
}
