import type { PredictResponse, PredictSampleList } from "@xnn/shared/records";
import { HttpError } from "react-admin";
import { getToken, httpClient } from "../api";
import { apiUrl } from "../config";

/** POST /api/predict's answer. */
export type Explanation = PredictResponse;

/** GET /api/predict/samples' answer. */
export type SampleList = PredictSampleList;

/** The image being explained: the bytes sent to the API and an object URL to show them. */
export interface ChosenImage {
  blob: Blob;
  name: string;
  url: string;
  /** "upload" or "sample", for the caption. */
  source: "upload" | "sample";
}

/** Explains `image` with a model version (default: the production model). Errors carry the API's message. */
export async function explainImage(
  image: ChosenImage,
  modelVersion: string | null,
  signal: AbortSignal,
): Promise<Explanation> {
  const form = new FormData();
  form.append("image", image.blob, image.name);
  if (modelVersion) form.append("modelVersion", modelVersion);
  // fetchJson leaves the multipart Content-Type (with its boundary) to the browser for FormData.
  const { json } = await httpClient(apiUrl("/predict"), { method: "POST", body: form, signal });
  return json as Explanation;
}

/** One image of the predict/ folder, as bytes (it is re-sent to /api/predict like an upload). */
export async function fetchSample(name: string, signal?: AbortSignal): Promise<Blob> {
  const token = getToken();
  const res = await fetch(apiUrl(`/predict/samples/${name.split("/").map(encodeURIComponent).join("/")}`), {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    signal,
  });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    throw new HttpError(body.error ?? res.statusText, res.status, body);
  }
  return res.blob();
}
