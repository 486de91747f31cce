import Stack from "@mui/material/Stack";
import { useRecordContext } from "react-admin";
import { ProductionBadge } from "../common/ProductionBadge";
import type { RunRow } from "../types";

/** The run's key, with the production badge when it is the deployed model. */
export function RunKeyField(_props: { label?: string; source?: string }) {
  const run = useRecordContext<RunRow>();
  if (!run) return null;
  return (
    <Stack
      sx={{ alignItems: "center" }}
      direction="row"
      spacing={1}
      data-testid="run-key"
      data-run-id={run.id}
    >
      <span style={{ fontFamily: "monospace", whiteSpace: "nowrap" }}>{run.key}</span>
      {run.isProduction && <ProductionBadge />}
    </Stack>
  );
}
