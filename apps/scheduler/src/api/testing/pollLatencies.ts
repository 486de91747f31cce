/**
 * GETs `url` every `everyMs` until `until` settles; each answer's latency in ms (the body read
 * included). An answer other than 200 throws, naming the URL and status. The no-stall test and
 * `pnpm bench api` poll /healthz and the runs list this way while explanations compute.
 */
export async function pollLatencies(
  url: string,
  opts: { token?: string | null; until: Promise<unknown>; everyMs: number },
): Promise<number[]> {
  let done = false;
  void opts.until.finally(() => {
    done = true;
  });
  const latencies: number[] = [];
  while (!done) {
    const started = performance.now();
    const res = await fetch(url, { headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {} });
    await res.arrayBuffer();
    latencies.push(performance.now() - started);
    if (res.status !== 200) throw new Error(`GET ${url} -> HTTP ${res.status}`);
    await new Promise((r) => setTimeout(r, opts.everyMs));
  }
  return latencies;
}
