import CompareArrowsIcon from "@mui/icons-material/CompareArrows";
import { Button, useListContext, useNavigate } from "react-admin";

export function compareLink(runIds: readonly (string | number)[]): string {
  return `/compare?runs=${runIds.map((id) => encodeURIComponent(String(id))).join(",")}`;
}

/** Bulk action: opens the compare page with the selected runs. */
export function CompareSelectedButton() {
  const { selectedIds } = useListContext();
  const navigate = useNavigate();
  return (
    <Button
      label={`Compare selected (${selectedIds.length})`}
      data-testid="compare-selected"
      onClick={() => navigate(compareLink(selectedIds))}
      disabled={selectedIds.length < 1}
    >
      <CompareArrowsIcon />
    </Button>
  );
}
