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
  stretch = false,
}: {
  versionId: string;
  path: string;
  size: number;
  mask: boolean;
  alt: string;
  /** Scale the image up to `size` in the browser (the API never enlarges a small image). */
  stretch?: boolean;
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
    <img
      src={url}
      alt={alt}
      style={
        stretch
          ? { width: size, height: "auto", display: "block" }
          : { maxWidth: size, maxHeight: size, display: "block" }
      }
    />
  ) : (
    <Box sx={{ width: size, height: size, bgcolor: "action.hover" }} />
  );
}
