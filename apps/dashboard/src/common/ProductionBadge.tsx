import VerifiedIcon from "@mui/icons-material/Verified";
import Chip from "@mui/material/Chip";
import { PRODUCTION_ALIAS } from "@xnn/shared/records";
import { useRecordContext } from "react-admin";

export function ProductionBadge({ version }: { version?: number | null }) {
  return (
    <Chip
      size="small"
      color="secondary"
      icon={<VerifiedIcon />}
      label={version ? `${PRODUCTION_ALIAS} v${version}` : PRODUCTION_ALIAS}
      data-testid="production-badge"
      aria-label="production model"
    />
  );
}

/** Shows the badge when the record (a run or a model version) is the production model. */
export function ProductionField(_props: { label?: string; sortable?: boolean }) {
  const record = useRecordContext<{ isProduction?: boolean; alias?: string | null; version?: number }>();
  if (!record) return null;
  const isProduction = record.isProduction === true || record.alias === PRODUCTION_ALIAS;
  return isProduction ? <ProductionBadge version={record.alias ? record.version : undefined} /> : null;
}
