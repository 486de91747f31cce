import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Checkbox from "@mui/material/Checkbox";
import FormControlLabel from "@mui/material/FormControlLabel";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useApiQuery } from "../useApiQuery";

/** The API's answer to GET .../promotion-comparison (the scheduler's PromotionComparison), as far as the dialog reads it. */
export interface PromotionComparison {
  status: "no-production" | "same-run" | "compared" | "not-comparable";
  reason: string | null;
  level: number;
  sameDataset: boolean | null;
  pairedImages: number;
  candidateF1: number | null;
  productionF1: number | null;
  deltaF1: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  mcnemar: { candidateOnly: number; baselineOnly: number; pExact: number; pCorrected: number } | null;
  better: boolean;
  requiresOverride: boolean;
}

export interface OverrideState {
  override: boolean;
  reason: string;
}

/** What the promote request sends: an override only when the guard asks for one. */
export function promotionBody(comparison: PromotionComparison | undefined, state: OverrideState) {
  return comparison?.requiresOverride && state.override
    ? { override: true, reason: state.reason.trim() }
    : {};
}

/** True when the guard lets the promotion go: a better candidate, or a ticked override with a reason. */
export function promotionAllowed(comparison: PromotionComparison | undefined, state: OverrideState) {
  if (!comparison) return false;
  return !comparison.requiresOverride || (state.override && state.reason.trim() !== "");
}

const f4 = (v: number | null) => (v === null ? "-" : v.toFixed(4));
const signed = (v: number | null) => (v === null ? "-" : `${v >= 0 ? "+" : ""}${v.toFixed(4)}`);

/** Loads the comparison a promotion would be judged on (path: the GET endpoint; null while closed). */
export function usePromotionComparison(path: string | null) {
  return useApiQuery<PromotionComparison>(path);
}

/**
 * The candidate against production on the same test images: the weighted-F1 difference with its
 * paired bootstrap interval and McNemar's test; when the candidate is not better at the level, an
 * override checkbox and the reason the audit will keep.
 */
export function PromotionGuard({
  comparison,
  error,
  state,
  onChange,
}: {
  comparison: PromotionComparison | undefined;
  error: string | undefined;
  state: OverrideState;
  onChange: (state: OverrideState) => void;
}) {
  if (error) return <Alert severity="error">Could not compare with production: {error}</Alert>;
  if (!comparison) return <Typography variant="body2">Comparing with production...</Typography>;
  if (comparison.status === "no-production") return null;
  const confidence = `${Math.round((1 - comparison.level) * 1000) / 10}%`;
  return (
    <Box data-testid="promotion-guard" sx={{ mt: 2 }}>
      {comparison.status === "compared" ? (
        <Typography variant="body2" component="div" data-testid="promotion-guard-numbers">
          On {comparison.pairedImages} shared test images: weighted F1 {f4(comparison.candidateF1)} vs
          production {f4(comparison.productionF1)}, difference <b>{signed(comparison.deltaF1)}</b> (
          {confidence} paired bootstrap interval {signed(comparison.ciLow)} .. {signed(comparison.ciHigh)});
          McNemar exact p = {comparison.mcnemar?.pExact.toPrecision(3)} ({comparison.mcnemar?.candidateOnly}{" "}
          images only the candidate gets right, {comparison.mcnemar?.baselineOnly} only production).
        </Typography>
      ) : comparison.status === "not-comparable" ? (
        <Typography variant="body2" data-testid="promotion-guard-numbers">
          No paired comparison: {comparison.reason}
        </Typography>
      ) : null}
      {comparison.sameDataset === false && (
        <Alert severity="info" sx={{ mt: 1 }} data-testid="promotion-guard-dataset">
          The two runs trained on different versions of their data set; the numbers use the test images both
          share.
        </Alert>
      )}
      {comparison.requiresOverride ? (
        <Alert severity="warning" sx={{ mt: 1 }} data-testid="promotion-guard-warning">
          The candidate is not shown better than production at level {comparison.level}. Promoting it needs an
          override, which the audit records with these numbers.
          <FormControlLabel
            sx={{ display: "block" }}
            control={
              <Checkbox
                checked={state.override}
                onChange={(e) => onChange({ ...state, override: e.target.checked })}
                slotProps={{ input: { "aria-label": "Override the promotion guard" } }}
                data-testid="promotion-override"
              />
            }
            label="Promote anyway"
          />
          {state.override && (
            <TextField
              label="Reason (kept in the audit)"
              value={state.reason}
              onChange={(e) => onChange({ ...state, reason: e.target.value })}
              size="small"
              fullWidth
              required
              slotProps={{ htmlInput: { maxLength: 400, "data-testid": "promotion-override-reason" } }}
            />
          )}
        </Alert>
      ) : comparison.status === "compared" ? (
        <Alert severity="success" sx={{ mt: 1 }}>
          Better than production at level {comparison.level}.
        </Alert>
      ) : null}
    </Box>
  );
}
