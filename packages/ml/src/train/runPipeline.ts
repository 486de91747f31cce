import { type PipelineConfig, StopRequestedError } from "@xnn/shared";
import { type ExplanationQuality, qualityLogFields, runExplanationQuality } from "../explain/quality.js";
import { trainPipeline } from "./train.js";
import type { TrainOptions, TrainResult } from "./types.js";

export interface PipelineResult extends TrainResult {
  /** Explanation quality of the best checkpoint; null when eval.probePerClass is 0 or the step failed (logged). */
  explanation: ExplanationQuality | null;
}

/**
 * One run from start to finish, as the worker's training thread and `pnpm train` both do it: train
 * the stage (`trainPipeline`: epochs, best checkpoint, test evaluation), then score the
 * explanations of the best checkpoint as saved. A failure of that scoring is logged and leaves
 * `explanation` null: it never fails a run whose training and evaluation succeeded. A stop request
 * propagates (StopRequestedError), so the next attempt resumes after the last epoch and redoes
 * only the evaluation and the scoring.
 */
export async function runPipeline(config: PipelineConfig, opts: TrainOptions): Promise<PipelineResult> {
  const result = await trainPipeline(config, opts);
  const score = () => scoreExplanations(config, result.bestCheckpoint.dir, opts);
  const explanation = opts.profiler ? await opts.profiler.time("explanation probes", score) : await score();
  return { ...result, explanation };
}

async function scoreExplanations(
  config: PipelineConfig,
  checkpointDir: string,
  opts: TrainOptions,
): Promise<ExplanationQuality | null> {
  const perClass = config.eval.probePerClass;
  if (perClass <= 0) return null;
  opts.log(`explanation quality: ${perClass} test images per class, best checkpoint`);
  try {
    const q = await runExplanationQuality(config, checkpointDir, { shouldStop: opts.shouldStop });
    if (q) opts.log("explanation quality (best checkpoint)", qualityLogFields(q));
    return q;
  } catch (err) {
    if (err instanceof StopRequestedError) throw err;
    opts.log(
      "explanation quality failed; the run's results are stored without it",
      { err: (err as Error).message },
      "warn",
    );
    return null;
  }
}
