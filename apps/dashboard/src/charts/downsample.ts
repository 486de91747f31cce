/**
 * Keeps at most `max` points, evenly spaced, always including the first and the last: a line with
 * 2,000 PR points draws the same at chart resolution with 100, and 200 such lines stay interactive.
 */
export function downsample<T>(points: readonly T[], max: number): T[] {
  if (points.length <= max || max < 2) return points.slice();
  const out: T[] = [];
  const step = (points.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(points[Math.round(i * step)]!);
  return out;
}
