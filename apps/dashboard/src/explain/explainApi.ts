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

/** Where an explanation stands while a worker has not answered yet. */
export type ExplainProgress = { state: "queued"; ahead: number } | { state: "running" };

/** POST /api/predict with `Prefer: respond-async`, and GET /api/predict/jobs/<id>: where it stands. */
type ExplainStatus =
  | ({ jobId: string } & ExplainProgress)
  | { jobId: string; state: "completed"; cached: boolean; explanation: Explanation }
  | { jobId: string; state: "failed"; status: number; error: string }
  | { jobId: string; state: "unknown" };

/** How often a pending explanation is polled. */
const POLL_MS = 500;

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/**
 * Explains `image` with a model version (default: the production model). A worker computes it:
 * the request is queued, and `onProgress` hears whether it waits for a worker or is being computed
 * until the answer comes. Errors carry the API's message.
 */
export async function explainImage(
  image: ChosenImage,
  modelVersion: string | null,
  signal: AbortSignal,
  onProgress: (p: ExplainProgress) => void = () => {},
): Promise<Explanation> {
  const form = new FormData();
  form.append("image", image.blob, image.name);
  if (modelVersion) form.append("modelVersion", modelVersion);
  // fetchJson leaves the multipart Content-Type (with its boundary) to the browser for FormData.
  const headers = new Headers({ Accept: "application/json", Prefer: "respond-async" });
  const status = (await httpClient(apiUrl("/predict"), { method: "POST", body: form, headers, signal }))
    .json as ExplainStatus;
  return follow(status, signal, onProgress);
}

/**
 * Explains one image of a data set version with the production model (or `modelVersion`): the API
 * reads the file itself, so only its path travels. Progress and errors as for `explainImage`.
 */
export async function explainDatasetImage(
  versionId: string,
  path: string,
  modelVersion: string | null,
  signal: AbortSignal,
  onProgress: (p: ExplainProgress) => void = () => {},
): Promise<Explanation> {
  const headers = new Headers({
    Accept: "application/json",
    "Content-Type": "application/json",
    Prefer: "respond-async",
  });
  const body = JSON.stringify(modelVersion ? { path, modelVersion } : { path });
  const url = apiUrl(`/dataset-versions/${encodeURIComponent(versionId)}/explain`);
  const status = (await httpClient(url, { method: "POST", body, headers, signal })).json as ExplainStatus;
  return follow(status, signal, onProgress);
}

/** Polls a submitted explanation until a worker has answered. */
async function follow(
  first: ExplainStatus,
  signal: AbortSignal,
  onProgress: (p: ExplainProgress) => void,
): Promise<Explanation> {
  let status = first;
  for (;;) {
    if (status.state === "completed") return status.explanation;
    if (status.state === "failed") throw new HttpError(status.error, status.status, { error: status.error });
    if (status.state === "unknown")
      throw new HttpError("the explanation is gone from the queue; try again", 500, {
        error: "the explanation is gone from the queue; try again",
      });
    onProgress(status.state === "queued" ? { state: "queued", ahead: status.ahead } : { state: "running" });
    await pause(POLL_MS, signal);
    status = (await httpClient(apiUrl(`/predict/jobs/${encodeURIComponent(status.jobId)}`), { signal }))
      .json as ExplainStatus;
  }
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
