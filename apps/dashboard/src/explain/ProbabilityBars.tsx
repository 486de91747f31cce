import Box from "@mui/material/Box";
import Typography from "@mui/material/Typography";

/** One horizontal bar per class, in the model's class order; the predicted class is highlighted. */
export function ProbabilityBars({
  probabilities,
  predicted,
}: {
  probabilities: Record<string, number>;
  predicted: string;
}) {
  return (
    <Box
      data-testid="explain-probabilities"
      sx={{ display: "grid", gridTemplateColumns: "max-content 1fr 4.5em", columnGap: 1, rowGap: 0.5 }}
    >
      {Object.entries(probabilities).map(([cls, p]) => {
        const top = cls === predicted;
        const pct = `${(p * 100).toFixed(1)} %`;
        return (
          <Box
            key={cls}
            sx={{ display: "contents" }}
            data-testid="explain-probability"
            data-class={cls}
            data-value={p}
          >
            <Typography variant="body2" sx={{ fontWeight: top ? 700 : 400 }}>
              {cls}
            </Typography>
            <Box
              role="meter"
              aria-label={`probability of ${cls}`}
              aria-valuemin={0}
              aria-valuemax={1}
              aria-valuenow={p}
              sx={{ alignSelf: "center", height: 12, borderRadius: 1, bgcolor: "action.hover" }}
            >
              <Box
                sx={{
                  height: "100%",
                  width: `${Math.max(0, Math.min(1, p)) * 100}%`,
                  borderRadius: 1,
                  bgcolor: top ? "primary.main" : "grey.500",
                }}
              />
            </Box>
            <Typography variant="body2" sx={{ textAlign: "right", fontVariantNumeric: "tabular-nums" }}>
              {pct}
            </Typography>
          </Box>
        );
      })}
    </Box>
  );
}
