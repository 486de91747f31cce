import Box from "@mui/material/Box";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import FormControl from "@mui/material/FormControl";
import InputLabel from "@mui/material/InputLabel";
import NativeSelect from "@mui/material/NativeSelect";
import Stack from "@mui/material/Stack";
import Typography from "@mui/material/Typography";
import { PRODUCTION_ALIAS } from "@xnn/shared/records";
import { useCallback, useEffect, useRef, useState } from "react";
import { Title, useGetList } from "react-admin";
import type { ModelVersionRow } from "../types";
import { useApiQuery } from "../useApiQuery";
import { ExplanationColumn } from "./ExplanationColumn";
import type { ChosenImage, SampleList } from "./explainApi";
import { ImagePicker } from "./ImagePicker";

/** Columns beside the production model's. */
const MAX_COMPARED = 3;

interface Compared {
  key: number;
  id: string;
  label: string;
}

/** Keyed by the image's URL, so its load state starts afresh for every image. */
function OriginalImage({ image }: { image: ChosenImage }) {
  const [size, setSize] = useState<{ w: number; h: number } | null>(null);
  const [broken, setBroken] = useState(false);
  return (
    <Card variant="outlined" sx={{ height: "100%" }} data-testid="explain-original-card">
      <CardContent>
        <Typography variant="h6" sx={{ mb: 1, minHeight: 32 }}>
          Original
        </Typography>
        {broken ? (
          <Typography color="text.secondary" data-testid="explain-original-broken">
            The browser cannot show this file; the API decides whether it is an image.
          </Typography>
        ) : (
          <Box
            component="img"
            src={image.url}
            alt={image.name}
            data-testid="explain-original"
            onLoad={(e) => {
              const img = e.currentTarget as HTMLImageElement;
              setSize({ w: img.naturalWidth, h: img.naturalHeight });
            }}
            onError={() => setBroken(true)}
            sx={{
              width: "100%",
              maxWidth: 448,
              display: "block",
              mb: 1,
              // Small inputs (the model's 32-224 px) stay sharp when enlarged.
              imageRendering: size && size.w < 224 ? "pixelated" : "auto",
            }}
          />
        )}
        <Typography variant="body2" sx={{ wordBreak: "break-all" }} data-testid="explain-image-name">
          {image.source === "sample" ? `predict/${image.name}` : image.name}
        </Typography>
        <Typography variant="caption" color="text.secondary">
          {image.source === "sample" ? "held-out sample" : "uploaded"}
          {size ? ` · ${size.w}×${size.h} px` : ""} · {(image.blob.size / 1024).toFixed(1)} KiB
        </Typography>
      </CardContent>
    </Card>
  );
}

/**
 * Explain a prediction: pick an image (upload, drop, or a predict/ sample of the production model's
 * data set) and see the production model's prediction, probabilities and Integrated Gradients
 * overlay beside the original; add other model versions to compare their explanations side by side.
 */
export function ExplainPage() {
  const samples = useApiQuery<SampleList>("/predict/samples");
  const [image, setImage] = useState<ChosenImage | null>(null);
  const [compared, setCompared] = useState<Compared[]>([]);
  const [nextKey, setNextKey] = useState(1);
  const task = samples.data?.task;

  const { data: versions } = useGetList<ModelVersionRow>("model-versions", {
    pagination: { page: 1, perPage: 200 },
    sort: { field: "version", order: "DESC" },
    filter: task ? { task } : {},
  });

  // An object URL lives as long as its image is the chosen one.
  const shownUrl = useRef<string | null>(null);
  useEffect(
    () => () => {
      if (shownUrl.current) URL.revokeObjectURL(shownUrl.current);
      shownUrl.current = null;
    },
    [],
  );
  const choose = useCallback((chosen: Omit<ChosenImage, "url">) => {
    if (shownUrl.current) URL.revokeObjectURL(shownUrl.current);
    const url = URL.createObjectURL(chosen.blob);
    shownUrl.current = url;
    setImage({ ...chosen, url });
  }, []);

  const choices = (versions ?? []).filter(
    (v) => v.alias !== PRODUCTION_ALIAS && !compared.some((c) => c.id === v.id),
  );
  const addColumn = (id: string) => {
    const v = versions?.find((x) => x.id === id);
    if (!v) return;
    setCompared((cs) => [...cs, { key: nextKey, id, label: `Model v${v.version}` }]);
    setNextKey((k) => k + 1);
  };

  return (
    <Box sx={{ mt: 1 }}>
      <Title title="Explain a prediction" />
      <Card variant="outlined" sx={{ mb: 2 }}>
        <CardContent>
          <Stack direction={{ xs: "column", md: "row" }} sx={{ gap: 3 }}>
            <Box sx={{ flex: 1, minWidth: 0 }}>
              <ImagePicker samples={samples} current={image} onChoose={choose} />
            </Box>
            <Box sx={{ width: { md: 280 } }}>
              <Typography variant="subtitle2" gutterBottom>
                Compare explanations
              </Typography>
              <Typography variant="body2" color="text.secondary" sx={{ mb: 2 }}>
                The production model explains the image; add other model versions to see theirs side by side.
              </Typography>
              <FormControl
                fullWidth
                size="small"
                disabled={choices.length === 0 || compared.length >= MAX_COMPARED}
              >
                <InputLabel variant="standard" htmlFor="explain-compare" shrink>
                  Add a model version
                </InputLabel>
                <NativeSelect
                  value=""
                  inputProps={{ id: "explain-compare" }}
                  onChange={(e) => {
                    if (e.target.value) addColumn(e.target.value);
                  }}
                >
                  <option value="">{choices.length === 0 ? "no other versions" : "choose…"}</option>
                  {choices.map((v) => (
                    <option key={v.id} value={v.id}>
                      v{v.version} · {v.runKey}
                      {v.testF1 !== null ? ` · test F1 ${v.testF1.toFixed(3)}` : ""}
                    </option>
                  ))}
                </NativeSelect>
              </FormControl>
            </Box>
          </Stack>
        </CardContent>
      </Card>

      {image ? (
        <Box
          data-testid="explain-results"
          sx={{ display: "grid", gap: 2, gridTemplateColumns: "repeat(auto-fill, minmax(300px, 1fr))" }}
        >
          <OriginalImage key={image.url} image={image} />
          <ExplanationColumn image={image} modelVersion={null} label="Production model" />
          {compared.map((c) => (
            <ExplanationColumn
              key={c.key}
              image={image}
              modelVersion={c.id}
              label={c.label}
              onRemove={() => setCompared((cs) => cs.filter((x) => x.key !== c.key))}
            />
          ))}
        </Box>
      ) : (
        <Typography color="text.secondary" data-testid="explain-empty">
          Choose an image to see the prediction and its explanation.
        </Typography>
      )}
    </Box>
  );
}
