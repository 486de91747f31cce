import CloseIcon from "@mui/icons-material/Close";
import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import CircularProgress from "@mui/material/CircularProgress";
import IconButton from "@mui/material/IconButton";
import Stack from "@mui/material/Stack";
import Tooltip from "@mui/material/Tooltip";
import Typography from "@mui/material/Typography";
import { PRODUCTION_ALIAS } from "@xnn/shared/records";
import { useEffect, useState } from "react";
import { Link } from "react-admin";
import { errorMessage } from "../api";
import { ProductionBadge } from "../common/ProductionBadge";
import {
  type ChosenImage,
  type ExplainProgress,
  type Explanation,
  explainDatasetImage,
  explainImage,
} from "./explainApi";
import { ProbabilityBars } from "./ProbabilityBars";

/** The IG tolerance the API aims for: gaps below it mean the attributions add up. */
const GAP_TOLERANCE = 0.05;

type State =
  | { state: "loading" }
  | ExplainProgress
  | { state: "done"; result: Explanation }
  | { state: "error"; error: string };

/**
 * One model version's explanation of the image: overlay, prediction, probabilities, version,
 * completeness gap and IG steps. `modelVersion` null means the production model. The image is an
 * upload (`image`) or one of a data set version's images (`datasetImage`), which the API reads itself.
 */
export function ExplanationColumn({
  image,
  datasetImage,
  modelVersion,
  label,
  onRemove,
}: {
  image?: ChosenImage;
  datasetImage?: { versionId: string; path: string };
  modelVersion: string | null;
  label: string;
  onRemove?: () => void;
}) {
  const [s, setS] = useState<State>({ state: "loading" });

  const versionId = datasetImage?.versionId;
  const datasetPath = datasetImage?.path;
  useEffect(() => {
    const controller = new AbortController();
    setS({ state: "loading" });
    const onProgress = (p: ExplainProgress) => {
      if (!controller.signal.aborted) setS(p);
    };
    const explained: Promise<Explanation> = image
      ? explainImage(image, modelVersion, controller.signal, onProgress)
      : versionId !== undefined && datasetPath !== undefined
        ? explainDatasetImage(versionId, datasetPath, modelVersion, controller.signal, onProgress)
        : Promise.reject(new Error("no image to explain"));
    explained
      .then((result) => setS({ state: "done", result }))
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setS({ state: "error", error: errorMessage(err) });
      });
    return () => controller.abort();
  }, [image, versionId, datasetPath, modelVersion]);

  const r = s.state === "done" ? s.result : undefined;
  return (
    <Card
      variant="outlined"
      sx={{ height: "100%" }}
      data-testid="explain-column"
      data-state={s.state}
      data-version={r?.modelVersion.version}
    >
      <CardContent>
        <Stack direction="row" sx={{ alignItems: "center", gap: 1, mb: 1, minHeight: 32 }}>
          <Typography variant="h6" sx={{ flex: 1 }} data-testid="explain-column-title">
            {r ? `Model v${r.modelVersion.version}` : label}
          </Typography>
          {r?.modelVersion.alias === PRODUCTION_ALIAS && <ProductionBadge />}
          {onRemove && (
            <Tooltip title="Remove this column">
              <IconButton
                size="small"
                onClick={onRemove}
                aria-label="remove column"
                data-testid="explain-remove"
              >
                <CloseIcon fontSize="small" />
              </IconButton>
            </Tooltip>
          )}
        </Stack>

        {(s.state === "loading" || s.state === "queued" || s.state === "running") && (
          <Stack direction="row" sx={{ alignItems: "center", gap: 1, py: 4 }} data-testid="explain-loading">
            <CircularProgress size={20} />
            <Typography color="text.secondary" data-testid="explain-progress">
              {s.state === "queued"
                ? `Queued for a worker${s.ahead > 0 ? ` (${s.ahead} ahead)` : ""}…`
                : s.state === "running"
                  ? "A worker is computing Integrated Gradients…"
                  : image
                    ? "Sending the image…"
                    : "Asking for an explanation…"}
            </Typography>
          </Stack>
        )}
        {s.state === "error" && (
          <Alert severity="error" data-testid="explain-error">
            {s.error}
          </Alert>
        )}
        {r && (
          <>
            <Box
              component="img"
              src={`data:image/png;base64,${r.overlayPng}`}
              alt={`Integrated Gradients attribution for ${r.predictedClass}`}
              data-testid="explain-overlay"
              sx={{ width: "100%", maxWidth: 448, display: "block", mb: 1 }}
            />
            <Typography variant="caption" color="text.secondary" component="p" sx={{ mb: 1.5 }}>
              Green pushes towards {r.predictedClass}, red away from it.
            </Typography>
            <Typography variant="subtitle1" sx={{ mb: 1 }}>
              Prediction:{" "}
              <Box component="strong" data-testid="explain-predicted">
                {r.predictedClass}
              </Box>{" "}
              ({((r.probabilities[r.predictedClass] ?? 0) * 100).toFixed(1)} %)
            </Typography>
            <ProbabilityBars probabilities={r.probabilities} predicted={r.predictedClass} />
            <Box
              component="dl"
              sx={{
                display: "grid",
                gridTemplateColumns: "max-content 1fr",
                columnGap: 2,
                rowGap: 0.25,
                mt: 2,
                mb: 0,
              }}
            >
              <Typography component="dt" variant="body2" color="text.secondary">
                Model version
              </Typography>
              <Typography component="dd" variant="body2" sx={{ m: 0 }} data-testid="explain-version">
                v{r.modelVersion.version} ({r.modelVersion.task}
                {r.modelVersion.alias ? `, ${r.modelVersion.alias}` : ""}) ·{" "}
                <Link to={`/runs/${encodeURIComponent(r.modelVersion.runId)}/show`}>run</Link>
              </Typography>
              <Typography component="dt" variant="body2" color="text.secondary">
                Completeness gap
              </Typography>
              <Tooltip
                title={`|sum of attributions − (f(image) − f(baseline))| / |f(image) − f(baseline)|; below ${GAP_TOLERANCE * 100} % the attributions account for the prediction`}
              >
                <Typography
                  component="dd"
                  variant="body2"
                  sx={{ m: 0, color: r.completenessGap < GAP_TOLERANCE ? "success.main" : "warning.main" }}
                  data-testid="explain-gap"
                >
                  {(r.completenessGap * 100).toFixed(2)} %
                </Typography>
              </Tooltip>
              <Typography component="dt" variant="body2" color="text.secondary">
                Steps used
              </Typography>
              <Typography component="dd" variant="body2" sx={{ m: 0 }} data-testid="explain-steps">
                {r.stepsUsed}
              </Typography>
              <Typography component="dt" variant="body2" color="text.secondary">
                Baseline
              </Typography>
              <Typography component="dd" variant="body2" sx={{ m: 0 }} data-testid="explain-baseline">
                {r.baseline ?? "black"}
              </Typography>
            </Box>
          </>
        )}
      </CardContent>
    </Card>
  );
}
