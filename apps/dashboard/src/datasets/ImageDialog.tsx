import Box from "@mui/material/Box";
import Checkbox from "@mui/material/Checkbox";
import Dialog from "@mui/material/Dialog";
import DialogContent from "@mui/material/DialogContent";
import DialogTitle from "@mui/material/DialogTitle";
import FormControlLabel from "@mui/material/FormControlLabel";
import Stack from "@mui/material/Stack";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import Typography from "@mui/material/Typography";
import type { DatasetImage, ImageDetail } from "@xnn/shared/records";
import { useState } from "react";
import { ExplanationColumn } from "../explain/ExplanationColumn";
import { useApiQuery } from "../useApiQuery";
import { Thumbnail } from "./Thumbnail";

/**
 * One image large (its lesion mask over it on request), every run's prediction for it, and the
 * production model's Integrated Gradients explanation of it (computed by a worker on opening).
 */
export function ImageDialog({
  versionId,
  image,
  onClose,
}: {
  versionId: string;
  image: DatasetImage | null;
  onClose: () => void;
}) {
  const [mask, setMask] = useState(true);
  const detail = useApiQuery<ImageDetail>(
    image
      ? `/dataset-versions/${encodeURIComponent(versionId)}/image?path=${encodeURIComponent(image.path)}`
      : null,
  );
  return (
    <Dialog open={!!image} onClose={onClose} maxWidth="lg" data-testid="image-dialog">
      <DialogTitle>
        {image?.path} ({image?.className})
      </DialogTitle>
      <DialogContent>
        {image && (
          <Stack direction={{ xs: "column", md: "row" }} spacing={3}>
            <div>
              <Thumbnail
                versionId={versionId}
                path={image.path}
                size={512}
                stretch
                mask={mask && !!image.maskPath}
                alt={image.path}
              />
              {image.maskPath && (
                <FormControlLabel
                  control={<Checkbox checked={mask} onChange={(e) => setMask(e.target.checked)} />}
                  label="Lesion mask"
                />
              )}
            </div>
            <Stack spacing={2} sx={{ width: { md: 340 } }}>
              <div>
                <Typography variant="subtitle2" gutterBottom>
                  Predictions of the runs trained on this data set version
                </Typography>
                {detail.error && <Typography color="error">{detail.error}</Typography>}
                <Table size="small" data-testid="image-predictions">
                  <TableHead>
                    <TableRow>
                      <TableCell>Run</TableCell>
                      <TableCell>Predicted</TableCell>
                      <TableCell align="right">Confidence</TableCell>
                    </TableRow>
                  </TableHead>
                  <TableBody>
                    {(detail.data?.predictions ?? []).map((p) => (
                      <TableRow key={p.runId} sx={{ bgcolor: p.correct ? undefined : "error.light" }}>
                        <TableCell>
                          {p.runKey}
                          {p.isProduction ? " (production)" : ""}
                        </TableCell>
                        <TableCell>
                          {p.predictedClass} {p.correct ? "✓" : "✗"}
                        </TableCell>
                        <TableCell align="right">{p.confidence.toFixed(3)}</TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              </div>
              <Box data-testid="image-explanation">
                <ExplanationColumn
                  key={image.path}
                  datasetImage={{ versionId, path: image.path }}
                  modelVersion={null}
                  label="Production model"
                />
              </Box>
            </Stack>
          </Stack>
        )}
      </DialogContent>
    </Dialog>
  );
}
