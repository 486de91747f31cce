import { useEffect, useState } from "react";
import { apiRequest, errorMessage } from "./api";

export interface ApiQuery<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
}

/** GETs an API path (null: skip) and refetches when `path` or `version` change; keeps stale data meanwhile. */
export function useApiQuery<T>(path: string | null, version = 0): ApiQuery<T> {
  const [state, setState] = useState<ApiQuery<T>>({ data: undefined, error: undefined, loading: !!path });
  useEffect(() => {
    if (!path) return;
    // `version` only triggers a refetch; it is not part of the request.
    void version;
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    apiRequest<T>(path, { signal: controller.signal })
      .then((data) => setState({ data, error: undefined, loading: false }))
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setState((s) => ({ ...s, error: errorMessage(err), loading: false }));
      });
    return () => controller.abort();
  }, [path, version]);
  return state;
}
