import { HttpError } from "react-admin";
import { getToken } from "../api";
import { apiUrl } from "../config";

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
