export function fmt(value: number | null | undefined, digits = 3): string {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits);
}

export function fmtBytes(value: number | string | null | undefined): string {
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

export function fmtAge(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "–";
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function fmtDuration(startIso: string | null, endIso: string | null): string {
  if (!startIso) return "–";
  const ms = (endIso ? new Date(endIso).getTime() : Date.now()) - new Date(startIso).getTime();
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

/** Distinct, readable colours for any number of series (golden-angle hue steps). */
export function seriesColor(index: number): string {
  return `hsl(${Math.round((index * 137.508) % 360)}, 65%, 45%)`;
}

/** A run's drawn or proposed values, e.g. `learningRate=0.0012 dropout=0.21` (the last part of each key). */
export function formatParams(params: Record<string, unknown> | null | undefined): string {
  if (!params) return "–";
  return Object.entries(params)
    .map(([k, v]) => `${k.split(".").pop()}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}
