/**
 * The q-th quantile (0..1) of sorted values by linear interpolation between the two nearest ranks:
 * NumPy's default (`np.percentile(a, 100 * q)`, method "linear"), which SciPy's percentile
 * bootstrap interval uses.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new Error("quantileSorted: no values");
  if (!(q >= 0 && q <= 1)) throw new Error(`quantileSorted: q must be within 0..1, got ${q}`);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (h - lo) * (b - a);
}
