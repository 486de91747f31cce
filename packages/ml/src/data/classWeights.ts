import { byCodePoint } from "./scan.js";

export type ClassWeightSpec = "balanced" | "none" | readonly number[] | Readonly<Record<string, number>>;

/**
 * Class weights in class-index order.
 * - "balanced": n_samples / (n_classes * count_c), scikit-learn's compute_class_weight definition,
 *   so weights match the original Python pipeline.
 * - "none": all ones.
 * - an explicit list (class-index order) or a {className: weight} map.
 *
 * `counts` is either a list in class-index order or a {className: count} map (e.g. scan's
 * `counts.train`); a map is ordered by `classNames` when given, otherwise by code-point-sorted
 * keys, which is the order scanDataset assigns labels in.
 */
export function computeClassWeights(
  counts: readonly number[] | Readonly<Record<string, number>>,
  spec: ClassWeightSpec = "balanced",
  classNames?: readonly string[],
): number[] {
  let names: readonly string[] | undefined;
  let list: number[];
  if (Array.isArray(counts)) {
    list = [...(counts as readonly number[])];
    names = classNames;
  } else {
    const rec = counts as Readonly<Record<string, number>>;
    names = classNames ?? Object.keys(rec).sort(byCodePoint);
    list = names.map((n) => {
      const c = rec[n];
      if (c === undefined) throw new RangeError(`No count for class "${n}"`);
      return c;
    });
  }
  const k = list.length;
  if (k === 0) throw new RangeError("computeClassWeights needs at least one class");
  for (const [i, c] of list.entries()) {
    if (!Number.isFinite(c) || c < 0) throw new RangeError(`Invalid count ${c} for class ${names?.[i] ?? i}`);
  }

  if (spec === "none") return list.map(() => 1);
  if (spec === "balanced") {
    const total = list.reduce((a, b) => a + b, 0);
    return list.map((c, i) => {
      // An absent class would get an infinite weight; that is a data bug, not something to train on.
      if (c === 0)
        throw new RangeError(`Class ${names?.[i] ?? i} has 0 samples; "balanced" weights undefined`);
      return total / (k * c);
    });
  }
  let weights: number[];
  if (Array.isArray(spec)) {
    weights = [...(spec as readonly number[])];
    if (weights.length !== k) {
      throw new RangeError(
        `Explicit class weights have ${weights.length} values, expected ${k} (one per class)`,
      );
    }
  } else {
    const rec = spec as Readonly<Record<string, number>>;
    if (!names)
      throw new RangeError("A {class: weight} map needs class names (pass classNames or a count map)");
    const unknown = Object.keys(rec).filter((key) => !names.includes(key));
    if (unknown.length > 0) throw new RangeError(`Class weights for unknown classes: ${unknown.join(", ")}`);
    weights = names.map((n) => {
      const w = rec[n];
      if (w === undefined) throw new RangeError(`Missing class weight for "${n}"`);
      return w;
    });
  }
  for (const [i, w] of weights.entries()) {
    if (!Number.isFinite(w) || w < 0)
      throw new RangeError(`Invalid class weight ${w} for class ${names?.[i] ?? i}`);
  }
  return weights;
}

/** tfjs `fit({ classWeight })` wants {index: weight}. */
export function toClassWeightMap(weights: readonly number[]): Record<number, number> {
  return Object.fromEntries(weights.map((w, i) => [i, w]));
}
