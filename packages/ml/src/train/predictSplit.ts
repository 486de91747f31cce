import * as tf from "@tensorflow/tfjs";
import type { ImageBatch } from "../data/loader.js";
import { toInput } from "./featureCache.js";
import { yieldToEventLoop } from "./loop.js";
import { type Forward, weightedCrossEntropy } from "./trainStep.js";

export interface SplitOutput {
  labels: number[];
  probs: number[][];
  paths: string[];
  /** Weighted CE over the whole split (sum w*l / sum w). */
  loss: number;
}

/** Class probabilities and the weighted loss of every image of a split, in inference mode. */
export async function predictSplit(
  forward: Forward,
  source: AsyncIterable<ImageBatch> | Iterable<ImageBatch>,
  cached: boolean,
  classWeights: tf.Tensor1D | null,
  /** What to throw for an error here (heap exhaustion explained). */
  onError: (err: unknown) => unknown,
): Promise<SplitOutput> {
  const labels: number[] = [];
  const probs: number[][] = [];
  const paths: string[] = [];
  let wsum = 0;
  let wtot = 0;
  for await (const b of source) {
    let p: Float32Array;
    let ws: number;
    let wt: number;
    try {
      const res = tf.tidy(() => {
        const logits = forward(toInput(b, cached), false);
        const y = tf.tensor1d(b.ys, "int32");
        const ce = weightedCrossEntropy(logits, y, classWeights);
        return [tf.softmax(logits), ce.weightedSum, ce.weightSum] as const;
      });
      p = (await res[0].data()) as Float32Array;
      ws = (await res[1].data())[0] as number;
      wt = (await res[2].data())[0] as number;
      tf.dispose([...res]);
    } catch (err) {
      throw onError(err);
    }
    const k = p.length / b.ys.length;
    for (let i = 0; i < b.ys.length; i++) {
      labels.push(b.ys[i] as number);
      probs.push(Array.from(p.subarray(i * k, (i + 1) * k)));
    }
    paths.push(...b.paths);
    wsum += ws;
    wtot += wt;
    await yieldToEventLoop();
  }
  return { labels, probs, paths, loss: wtot === 0 ? Number.NaN : wsum / wtot };
}

export function argmaxRow(row: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
}
