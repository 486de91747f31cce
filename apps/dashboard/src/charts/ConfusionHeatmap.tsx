import Box from "@mui/material/Box";
import Typography from "@mui/material/Typography";
import { memo } from "react";
import type { Confusion } from "../types";

/**
 * counts[true][predicted] as a table coloured by each cell's share of its true class (row), so that
 * classes of very different sizes read the same; the count is printed in every cell.
 */
export const ConfusionHeatmap = memo(function ConfusionHeatmap({
  confusion,
  title,
  testId = "confusion-matrix",
  compact = false,
}: {
  confusion: Confusion;
  title?: string;
  testId?: string;
  compact?: boolean;
}) {
  const { classNames, counts } = confusion;
  const cell = compact ? 58 : 72;
  return (
    <Box data-testid={testId} role="table" aria-label={title ?? "confusion matrix"}>
      {title && (
        <Typography variant="subtitle2" gutterBottom noWrap title={title}>
          {title}
        </Typography>
      )}
      <Box sx={{ display: "flex", alignItems: "center" }}>
        <Typography
          variant="caption"
          sx={{ writingMode: "vertical-rl", transform: "rotate(180deg)", mr: 0.5, color: "text.secondary" }}
        >
          true class
        </Typography>
        <Box component="table" sx={{ borderCollapse: "collapse", fontSize: compact ? 11 : 13 }}>
          <thead>
            <tr>
              <th />
              {classNames.map((c) => (
                <Box
                  component="th"
                  key={c}
                  sx={{
                    fontWeight: 500,
                    px: 0.5,
                    maxWidth: cell,
                    overflow: "hidden",
                    textOverflow: "ellipsis",
                  }}
                  title={`predicted ${c}`}
                >
                  {c}
                </Box>
              ))}
            </tr>
          </thead>
          <tbody>
            {classNames.map((trueClass, i) => {
              const row = counts[i] ?? [];
              const total = row.reduce((a, b) => a + b, 0) || 1;
              return (
                <tr key={trueClass}>
                  <Box
                    component="th"
                    sx={{ fontWeight: 500, textAlign: "right", pr: 1, whiteSpace: "nowrap" }}
                  >
                    {trueClass}
                  </Box>
                  {classNames.map((predClass, j) => {
                    const n = row[j] ?? 0;
                    const share = n / total;
                    const diagonal = i === j;
                    const hue = diagonal ? 210 : 8;
                    return (
                      <Box
                        component="td"
                        key={predClass}
                        data-testid="confusion-cell"
                        title={`true ${trueClass}, predicted ${predClass}: ${n} (${(share * 100).toFixed(1)}%)`}
                        sx={{
                          width: cell,
                          height: compact ? 32 : 48,
                          textAlign: "center",
                          border: "1px solid",
                          borderColor: "divider",
                          fontVariantNumeric: "tabular-nums",
                          background: `hsla(${hue}, 75%, 45%, ${0.08 + share * 0.85})`,
                          color: share > 0.5 ? "#fff" : "text.primary",
                        }}
                      >
                        {n}
                      </Box>
                    );
                  })}
                </tr>
              );
            })}
          </tbody>
        </Box>
      </Box>
      <Typography variant="caption" sx={{ display: "block", textAlign: "center", color: "text.secondary" }}>
        predicted class
      </Typography>
    </Box>
  );
});
