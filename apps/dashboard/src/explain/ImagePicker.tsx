import CloudUploadIcon from "@mui/icons-material/CloudUpload";
import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Chip from "@mui/material/Chip";
import Stack from "@mui/material/Stack";
import Typography from "@mui/material/Typography";
import { type DragEvent, useRef, useState } from "react";
import { errorMessage } from "../api";
import type { ApiQuery } from "../useApiQuery";
import { type ChosenImage, fetchSample, type SampleList } from "./explainApi";

type Choose = (image: Omit<ChosenImage, "url">) => void;

/** A drop zone with a file input, and the data set's predict/ images as one-click samples. */
export function ImagePicker({
  samples,
  current,
  onChoose,
}: {
  samples: ApiQuery<SampleList>;
  current: ChosenImage | null;
  onChoose: Choose;
}) {
  const input = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const [fetching, setFetching] = useState<string | null>(null);
  const [sampleError, setSampleError] = useState<string | null>(null);

  const takeFile = (file: File | undefined) => {
    if (file) onChoose({ blob: file, name: file.name, source: "upload" });
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    takeFile(e.dataTransfer.files[0]);
  };
  const pickSample = async (name: string) => {
    setFetching(name);
    setSampleError(null);
    try {
      const blob = await fetchSample(name);
      onChoose({ blob, name, source: "sample" });
    } catch (err) {
      setSampleError(`Could not load sample ${name}: ${errorMessage(err)}`);
    } finally {
      setFetching(null);
    }
  };

  return (
    <Stack sx={{ gap: 2 }}>
      <Box
        data-testid="explain-dropzone"
        data-dragging={dragging}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        sx={{
          border: 2,
          borderStyle: "dashed",
          borderColor: dragging ? "primary.main" : "divider",
          bgcolor: dragging ? "action.hover" : "transparent",
          borderRadius: 2,
          p: 3,
          textAlign: "center",
        }}
      >
        <Typography sx={{ mb: 1 }}>
          Drop an image here (PNG, JPEG, WebP, TIFF, GIF, BMP or AVIF, up to 10 MB)
        </Typography>
        <Button variant="outlined" startIcon={<CloudUploadIcon />} onClick={() => input.current?.click()}>
          Choose a file
        </Button>
        <input
          ref={input}
          type="file"
          accept="image/*"
          hidden
          data-testid="explain-file-input"
          onChange={(e) => {
            takeFile(e.target.files?.[0]);
            // The same file picked again is a new choice.
            e.target.value = "";
          }}
        />
      </Box>

      <Box data-testid="explain-samples">
        <Typography variant="subtitle2" gutterBottom>
          Or one of the data set's held-out images
          {samples.data && (
            <Typography component="span" variant="body2" color="text.secondary">
              {" "}
              ({samples.data.folder}, model v{samples.data.modelVersion.version})
            </Typography>
          )}
        </Typography>
        {samples.loading && !samples.data && <Typography color="text.secondary">Loading samples…</Typography>}
        {samples.error && (
          <Alert severity="info" data-testid="explain-samples-error">
            No samples to offer: {samples.error}
          </Alert>
        )}
        {samples.data && samples.data.samples.length === 0 && (
          <Typography color="text.secondary">{samples.data.folder} holds no images.</Typography>
        )}
        <Stack direction="row" sx={{ flexWrap: "wrap", gap: 1 }}>
          {samples.data?.samples.map((s) => (
            <Chip
              key={s.name}
              label={s.name}
              data-testid="explain-sample"
              data-name={s.name}
              clickable
              disabled={fetching !== null}
              color={current?.source === "sample" && current.name === s.name ? "primary" : "default"}
              onClick={() => void pickSample(s.name)}
            />
          ))}
        </Stack>
        {samples.data?.truncated && (
          <Typography variant="caption" color="text.secondary">
            Only the first {samples.data.samples.length} images are listed.
          </Typography>
        )}
        {sampleError && (
          <Alert severity="error" sx={{ mt: 1 }} data-testid="explain-sample-error">
            {sampleError}
          </Alert>
        )}
      </Box>
    </Stack>
  );
}
