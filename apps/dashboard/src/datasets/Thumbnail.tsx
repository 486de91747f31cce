import Box from "@mui/material/Box";
import { useEffect, useState } from "react";
import { fetchThumbnail } from "./datasetApi";

/** One server-made thumbnail, fetched with the token and shown through an object URL. */
export function Thumbnail({
  versionId,
  path,
  size,
  mask,
  alt,
}: {
  versionId: string;
  path: string;
  size: number;
  mask: boolean;
  alt: string;
}) {
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    let objectUrl: string | null = null;
    setError(null);
    fetchThumbnail(versionId, path, size, mask, controller.signal)
      .then((blob) => {
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      })
      .catch((err: Error) => {
        if (!controller.signal.aborted) setError(err.message);
      });
    return () => {
      controller.abort();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [versionId, path, size, mask]);
  if (error) {
    return (
      <Box
        sx={{ width: size, height: size, fontSize: 11, color: "error.main", overflow: "hidden" }}
        title={error}
      >
        {error}
      </Box>
    );
  }
  return url ? (
    <img src={url} alt={alt} style={{ maxWidth: size, maxHeight: size, display: "block" }} />
  ) : (
    <Box sx={{ width: size, height: size, bgcolor: "action.hover" }} />
  );
}
