import { HttpError } from "react-admin";
import { getToken } from "../api";
import { apiUrl } from "../config";

/** The API's data set version (GET /dataset-versions/:id), as far as the page reads it. */
export interface DatasetVersion {
  id: string;
  datasetId: string;
  root: string;
  name: string;
  fingerprint: string;
  classNames: string[];
  classCounts: Record<string, Record<string, number>>;
  imageCount: number;
  formats: Record<string, number>;
  sizes: {
    minWidth: number | null;
    maxWidth: number | null;
    minHeight: number | null;
    maxHeight: number | null;
  };
  unreadable: { path: string; reason: string }[];
  maskCount: number;
  registeredBy: string;
  createdAt: string;
  runs: number;
}

export interface DatasetRecord {
  id: string;
  name: string;
  root: string;
  classNames: string[];
  versions: number;
  latestVersionId: string | null;
  updatedAt: string;
  versionList?: DatasetVersion[];
}

export interface ImagePrediction {
  predicted: number;
  predictedClass: string;
  confidence: number;
  loss: number;
  correct: boolean;
}

export interface DatasetImage {
  id: string;
  path: string;
  split: string;
  label: number;
  className: string;
  width: number | null;
  height: number | null;
  maskPath: string | null;
  error: string | null;
  prediction: ImagePrediction | null;
}

export interface VersionRun {
  id: string;
  key: string;
  sweepId: string;
  testF1: number | null;
}

export interface ImageDetail {
  image: DatasetImage;
  predictions: {
    runId: string;
    runKey: string;
    sweepId: string;
    predictedClass: string;
    confidence: number;
    correct: boolean;
    isProduction: boolean;
  }[];
}

/** A thumbnail as bytes: images need the bearer token, which an <img src> cannot send. */
export async function fetchThumbnail(
  versionId: string,
  path: string,
  size: number,
  mask: boolean,
  signal?: AbortSignal,
): Promise<Blob> {
  const token = getToken();
  const url = apiUrl(
    `/dataset-versions/${encodeURIComponent(versionId)}/thumbnail?path=${encodeURIComponent(path)}&size=${size}&mask=${mask}`,
  );
  const res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    throw new HttpError(body.error ?? res.statusText, res.status, body);
  }
  return res.blob();
}
