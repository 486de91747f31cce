import { mkdir } from "node:fs/promises";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { PipelineConfig } from "@xnn/shared";
import { assertKernelsInstalled } from "../backend/kernels/index.js";
import { copyWeights, loadCheckpoint } from "../checkpoint/index.js";
import { computeClassWeights } from "../data/classWeights.js";
import { batches, type SkipReport } from "../data/loader.js";
import { type ScannedDataset, scanDataset } from "../data/scan.js";
import { classMeanGray, setModelBaseline } from "../explain/baseline.js";
import { precisionRecallF1Support } from "../metrics/classification.js";
import { type Evaluation, evaluateClassifier } from "../metrics/evaluate.js";
import { type BuiltModel, buildModel, configureStage } from "../models/index.js";
import { AdamW } from "../optim/adamw.js";
import { batchNormLayers, setBatchNormMomentum, withBatchNormRestored } from "./batchnorm.js";
import { type HeapGuard, heapGuard } from "./heapError.js";
import { BestCheckpointHook } from "./hooks/bestCheckpointHook.js";
import { EarlyStoppingHook } from "./hooks/earlyStoppingHook.js";
import { EpochLogHook } from "./hooks/epochLogHook.js";
import { HeadPreparationHook } from "./hooks/headPreparationHook.js";
import { LearningRateHook } from "./hooks/learningRateHook.js";
import { ProgressHook } from "./hooks/progressHook.js";
import { ResumeStateHook } from "./hooks/resumeStateHook.js";
import { StopRequestHook } from "./hooks/stopRequestHook.js";
import type { LoopState, TrainingHook } from "./hooks/trainingHook.js";
import { runEpochs } from "./loop.js";
import { type MicroBatchPlan, planFields, planMicroBatch } from "./microBatch.js";
import { argmaxRow, predictSplit } from "./predictSplit.js";
import { configHash, RESUME_MODEL_DIR, restoreOptimizer } from "./resume.js";
import { prepareStageInputs, type StageInputs } from "./stageInputs.js";
import { createTrainStep, probeStep, type TrainStepOptions } from "./trainStep.js";
import type {
  BestCheckpoint,
  EpochMetrics,
  Prediction,
  ResumeState,
  TrainLog,
  TrainOptions,
  TrainResult,
} from "./types.js";

export const BEST_CHECKPOINT_DIR = "checkpoint";
/** PyTorch BatchNorm momentum 0.1 expressed the Keras way. */
const PYTORCH_BN_MOMENTUM = 0.9;

/**
 * Trains one pipeline stage (FE or FT) with a custom loop: AdamW, PyTorch-style weighted CE,
 * warm-up, ReduceLROnPlateau on val loss, early stopping on val loss, best checkpoint on val
 * weighted F1; then evaluates the best checkpoint on the test split. Uses whatever tfjs backend
 * is active (call initBackend first).
 *
 * This function sets the stage up and lists the hooks; the loop (`runEpochs`) and the hooks
 * (`hooks/`) do the training.
 */
export async function trainPipeline(config: PipelineConfig, opts: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const log = opts.log;
  assertKernelsInstalled("trainPipeline");
  const runDir = path.resolve(opts.runDir);
  await mkdir(runDir, { recursive: true });
  const hash = opts.configHash ?? configHash(config);
  const resume = opts.resumeFrom;
  if (resume && resume.configHash !== hash) {
    throw new Error(
      `cannot resume from ${resume.dir}: it was written for another pipeline config (hash ${resume.configHash}, now ${hash})`,
    );
  }

  const { data, model: mcfg, train: tcfg } = config;
  const { scanned, classNames, trainCounts, weights } = await scanForTraining(config, log);
  const built = await buildModel({
    arch: mcfg.arch,
    widthMultiplier: mcfg.widthMultiplier,
    imageSize: data.imageSize,
    numClasses: classNames.length,
    dropout: mcfg.dropout,
    seed: config.seed,
    ...(mcfg.headUnits ? { headUnits: mcfg.headUnits } : {}),
    ...(mcfg.pretrainedDir ? { pretrainedDir: mcfg.pretrainedDir } : {}),
  });
  const model = built.model;
  const disposables: { dispose(): void }[] = [];
  const classWeights = config.classWeighting === "none" ? null : tf.tensor1d(weights);
  if (classWeights) disposables.push(classWeights);

  try {
    await loadStartingWeights(model, resume, opts.initFrom, log);
    await recordBaseline(model, config, scanned, log);
    const { varList, dropouts } = configureTraining(model, built, config, log);
    const optimizer = new AdamW({ learningRate: tcfg.learningRate, weightDecay: tcfg.weightDecay });
    disposables.push(optimizer);
    if (resume) await restoreOptimizer(optimizer, resume.dir);
    const profiler = opts.profiler;
    if (profiler) profiler.wrapMethod(optimizer, "applyGradients", "optimizer");

    const report: SkipReport = { skipped: [] };
    let microBatchSize = tcfg.batchSize;
    const guard = heapGuard(tcfg.batchSize, data.imageSize, () => microBatchSize);
    const evalBatchSize = await planEvalBatch(model, config, guard);
    microBatchSize = evalBatchSize;
    const prepare = () =>
      prepareStageInputs(model, config, scanned, {
        report,
        guard,
        log,
        keep: (d) => void disposables.push(d),
        evalBatchSize,
        ...(opts.featureStore ? { featureStore: opts.featureStore } : {}),
      });
    // With cached features, this is where the backbone runs over the data set.
    const inputs = profiler
      ? await profiler.time("setup: stage inputs (feature cache)", prepare)
      : await prepare();

    const best = new BestCheckpointHook(model, path.join(runDir, BEST_CHECKPOINT_DIR), resume);
    const early = new EarlyStoppingHook(tcfg.earlyStopping.patience, resume);
    const lr = new LearningRateHook(
      optimizer,
      tcfg.learningRate,
      { factor: tcfg.plateau.factor, patience: tcfg.plateau.patience, minLr: tcfg.plateau.minLr },
      tcfg.warmupEpochs,
      resume,
    );
    const hooks: TrainingHook[] = [
      ...headPreparation(inputs, config, scanned, {
        resumed: resume !== undefined,
        initFrom: opts.initFrom,
        prior: trainCounts.map((n, c) => n * (weights[c] ?? 1)),
        log,
        guard,
        evalBatchSize,
      }),
      best,
      early,
      lr,
      new ResumeStateHook(runDir, model, optimizer, hash, [early, lr, best]),
      new EpochLogHook(log),
      new ProgressHook(runDir, opts, resume?.reportedThrough),
      ...(opts.hooks ?? []),
      // Last: a stop after the epoch lands once every other hook has checkpointed and reported it.
      ...(opts.shouldStop || opts.stopAfterEpoch || opts.epochGate
        ? [
            new StopRequestHook(
              { now: opts.shouldStop, afterEpoch: opts.stopAfterEpoch, epochGate: opts.epochGate },
              log,
            ),
          ]
        : []),
    ];

    const fullBatches = Math.ceil(inputs.trainCount / tcfg.batchSize);
    const loop: LoopState = {
      epoch: resume?.epoch ?? 0,
      maxEpochs: tcfg.epochs,
      stepsPerEpoch: Math.min(fullBatches, tcfg.maxBatchesPerEpoch ?? fullBatches),
      globalStep: resume?.globalStep ?? 0,
      history: [...(resume?.history ?? [])],
      stopped: resume?.stopped ?? false,
    };
    const stepOptions: TrainStepOptions = {
      forward: inputs.trainForward,
      frozenBackbone: inputs.frozenBackbone,
      cached: inputs.cached,
      varList,
      optimizer,
      classWeights,
      dropouts,
      seed: config.seed,
      inputNoise: data.inputNoise ?? 0,
      guard,
    };
    microBatchSize = await planTrainMicroBatch(model, config, inputs, stepOptions, evalBatchSize, log);
    const step = createTrainStep({ ...stepOptions, microBatchSize });
    const validate = async (epoch: number): Promise<EpochMetrics["val"]> => {
      const val = await predictSplit(
        inputs.forward,
        inputs.valBatches(),
        inputs.cached,
        classWeights,
        (err) => guard(`validation (epoch ${epoch})`, err),
      );
      if (val.labels.length === 0) throw new Error("no validation images could be read");
      const valPred = val.probs.map(argmaxRow);
      const prf = precisionRecallF1Support(val.labels, valPred, classNames.length);
      const accuracy = valPred.reduce((a, p, i) => a + (p === val.labels[i] ? 1 : 0), 0) / valPred.length;
      const { precision, recall, f1 } = prf.weighted;
      return { loss: val.loss, accuracy, precision, recall, f1 };
    };
    await runEpochs(loop, { trainBatches: inputs.trainBatches, step, validate, optimizer }, hooks, profiler);

    const bestCheckpoint = best.checkpoint;
    if (!bestCheckpoint) throw new Error("no epoch completed, so there is no checkpoint to evaluate");
    const test = () =>
      evaluateOnTest(bestCheckpoint, config, scanned, { evalBatchSize, classWeights, report, guard, log });
    const { evaluation, predictions } = profiler
      ? await profiler.time("test evaluation", test)
      : await test();

    const epochsRun = loop.history.length;
    return {
      bestEpoch: best.tracker.state.bestEpoch,
      bestValF1: best.tracker.state.bestValue,
      epochsRun,
      stoppedEarly: loop.stopped && epochsRun < tcfg.epochs,
      history: loop.history,
      test: evaluation,
      predictions,
      bestCheckpoint,
      skipped: report.skipped,
      classNames,
      backend: tf.getBackend(),
      cachedFeatures: inputs.cached,
      microBatchSize,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    for (const d of disposables) d.dispose();
    model.dispose();
  }
}

/** The test split scored with the saved best checkpoint, as reloaded from disk, on images. */
async function evaluateOnTest(
  checkpoint: BestCheckpoint,
  config: PipelineConfig,
  scanned: ScannedDataset,
  o: {
    evalBatchSize: number;
    classWeights: tf.Tensor1D | null;
    report: SkipReport;
    guard: HeapGuard;
    log: TrainLog;
  },
): Promise<{ evaluation: Evaluation; predictions: Prediction[] }> {
  const bestModel = await loadCheckpoint(checkpoint.dir);
  try {
    const test = await predictSplit(
      (x) => bestModel.apply(x, { training: false }) as tf.Tensor2D,
      batches(scanned.splits.test, {
        batchSize: o.evalBatchSize,
        imageSize: config.data.imageSize,
        root: scanned.root,
        report: o.report,
      }),
      false,
      o.classWeights,
      (err) => o.guard("test evaluation", err),
    );
    if (test.labels.length === 0) throw new Error("no test images could be read");
    const evaluation = evaluateClassifier(test.labels, test.probs, scanned.classNames);
    const predictions: Prediction[] = test.labels.map((label, i) => ({
      path: test.paths[i] as string,
      label,
      predicted: argmaxRow(test.probs[i] as number[]),
      probs: test.probs[i] as number[],
    }));
    o.log("test evaluation (best checkpoint)", {
      bestEpoch: checkpoint.epoch,
      accuracy: Number(evaluation.accuracy.toFixed(4)),
      f1: Number(evaluation.f1.toFixed(4)),
      microAp: Number(evaluation.microAp.toFixed(4)),
      skipped: o.report.skipped.length,
    });
    return { evaluation, predictions };
  } finally {
    bestModel.dispose();
  }
}

/** The data set, checked against the config before anything is built: class names, the IG baseline's class, class weights. */
async function scanForTraining(
  config: PipelineConfig,
  log: TrainLog,
): Promise<{ scanned: ScannedDataset; classNames: string[]; trainCounts: number[]; weights: number[] }> {
  const { data } = config;
  const scanned = await scanDataset(data.dir);
  const classNames = scanned.classNames;
  if (data.classNames && data.classNames.join("\u0000") !== classNames.join("\u0000")) {
    throw new Error(
      `data.classNames [${data.classNames.join(", ")}] do not match the class folders in ${scanned.root}: [${classNames.join(", ")}]`,
    );
  }
  const baselineSpec = config.eval.baseline;
  if (baselineSpec && baselineSpec !== "black") {
    const baselineClass = classNames.indexOf(baselineSpec.meanOf);
    const n = scanned.splits.train.filter((i) => i.label === baselineClass).length;
    if (baselineClass === -1 || n === 0) {
      throw new Error(
        `eval.baseline.meanOf: "${baselineSpec.meanOf}" ${baselineClass === -1 ? "is not a class" : "has no training images"} in ${scanned.root} (classes: ${classNames.join(", ")})`,
      );
    }
  }
  const trainCounts = classNames.map((c) => scanned.counts.train[c] ?? 0);
  const weights = computeClassWeights(trainCounts, config.classWeighting, classNames);
  log("data set scanned", {
    root: scanned.root,
    classNames,
    train: scanned.splits.train.length,
    val: scanned.splits.val.length,
    test: scanned.splits.test.length,
    classWeights: config.classWeighting === "none" ? "none" : weights,
  });
  return { scanned, classNames, trainCounts, weights };
}

/** A resumed run continues from its last epoch's weights; an FT run starts from the FE checkpoint's. */
async function loadStartingWeights(
  model: tf.LayersModel,
  resume: ResumeState | undefined,
  initFrom: string | undefined,
  log: TrainLog,
): Promise<void> {
  if (resume) {
    const saved = await loadCheckpoint(path.join(resume.dir, RESUME_MODEL_DIR));
    copyWeights(saved, model, {
      strict: true,
      layerNames: model.layers.filter((l) => l.weights.length > 0).map((l) => l.name),
    });
    saved.dispose();
    log("resumed model weights", { from: resume.dir, completedEpochs: resume.epoch });
  } else if (initFrom) {
    const init = await loadCheckpoint(initFrom);
    const copied = copyWeights(init, model);
    init.dispose();
    log("initialised from checkpoint", { from: path.resolve(initFrom), layersCopied: copied.length });
  }
}

/** Records eval.baseline's class mean on the model, so every checkpoint saved carries the run's IG reference. */
async function recordBaseline(
  model: tf.LayersModel,
  config: PipelineConfig,
  scanned: ScannedDataset,
  log: TrainLog,
): Promise<void> {
  const spec = config.eval.baseline;
  if (!spec || spec === "black") return;
  const cls = scanned.classNames.indexOf(spec.meanOf);
  const mean = await classMeanGray(
    scanned.root,
    scanned.splits.train.filter((i) => i.label === cls),
    config.data.imageSize,
  );
  setModelBaseline(model, { className: spec.meanOf, size: config.data.imageSize, ...mean });
  log("IG baseline", { meanOf: spec.meanOf, images: mean.images });
}

/** Marks the stage's layers trainable and sets BatchNorm to PyTorch's momentum; returns what the step trains and reseeds. */
function configureTraining(
  model: tf.LayersModel,
  built: BuiltModel,
  config: PipelineConfig,
  log: TrainLog,
): { varList: tf.Variable[]; dropouts: { seed?: number }[] } {
  const trainableLayers = configureStage(model, built.backboneLayerNames, config.stage);
  const bnCount = setBatchNormMomentum(model, PYTORCH_BN_MOMENTUM);
  if (bnCount > 0)
    log("BatchNorm momentum set to PyTorch's default", {
      layers: bnCount,
      kerasMomentum: PYTORCH_BN_MOMENTUM,
    });
  const dropouts = model.layers.filter((l) => l.getClassName() === "Dropout") as unknown as {
    seed?: number;
  }[];
  const varList = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const nParams = varList.reduce((a, v) => a + v.size, 0);
  log("stage configured", {
    stage: config.stage.kind,
    trainableLayers: trainableLayers.length,
    trainableParams: nParams,
    init: built.init,
  });
  return { varList, dropouts };
}

/** The head's preparation on a fresh run: initialised on cached features, or revived after a checkpoint (see HeadPlan). */
function headPreparation(
  inputs: StageInputs,
  config: PipelineConfig,
  scanned: ScannedDataset,
  o: {
    resumed: boolean;
    initFrom: string | undefined;
    prior: number[];
    log: TrainLog;
    guard: HeapGuard;
    evalBatchSize: number;
  },
): TrainingHook[] {
  if (o.resumed) return [];
  if (inputs.trainCache && !o.initFrom) {
    const plan = { kind: "init", features: inputs.trainCache, prior: o.prior } as const;
    return [new HeadPreparationHook(inputs.split().head, plan, o.log, o.guard)];
  }
  if (!inputs.cached && o.initFrom) {
    const { extractor, head } = inputs.split();
    const images = {
      root: scanned.root,
      batchSize: o.evalBatchSize,
      imageSize: config.data.imageSize,
    };
    const plan = {
      kind: "revive",
      extractor,
      train: scanned.splits.train,
      seed: config.seed,
      images,
    } as const;
    return [new HeadPreparationHook(head, plan, o.log, o.guard)];
  }
  return [];
}

/**
 * Images per inference pass (validation, test, feature caching): the batch, or fewer where a
 * forward pass of the whole model in training mode, which keeps every activation (as BatchNorm
 * recalibration and the frozen backbone of FE do), would not fit. Inference needs less, so this is
 * on the safe side; batching does not change inference results.
 */
async function planEvalBatch(
  model: tf.LayersModel,
  config: PipelineConfig,
  guard: HeapGuard,
): Promise<number> {
  const size = config.data.imageSize;
  try {
    const plan = await withBatchNormRestored(model, () =>
      planMicroBatch({
        batchSize: config.train.batchSize,
        configured: config.train.microBatchSize,
        probe: (n) =>
          tf.tidy(() => {
            model.apply(tf.zeros([n, size, size, 3]), { training: true });
          }),
      }),
    );
    return plan.microBatchSize;
  } catch (err) {
    throw guard("memory estimate (forward pass)", err);
  }
}

/**
 * The training step's micro-batch (microBatch.ts): train.microBatchSize, or measured by running
 * the step itself on 1 and 2 images; logged with how it was chosen.
 */
async function planTrainMicroBatch(
  model: tf.LayersModel,
  config: PipelineConfig,
  inputs: StageInputs,
  step: TrainStepOptions,
  evalBatchSize: number,
  log: TrainLog,
): Promise<number> {
  const size = config.data.imageSize;
  const inputShape = inputs.trainCache ? [inputs.trainCache.dim] : [size, size, 3];
  // AdamW's two slots per weight appear on the first step, and the summed gradients with them.
  const trainableBytes = step.varList.reduce((a, v) => a + v.size * 4, 0);
  let plan: MicroBatchPlan;
  try {
    plan = await withBatchNormRestored(model, () =>
      planMicroBatch({
        batchSize: config.train.batchSize,
        configured: config.train.microBatchSize,
        probe: (n) => probeStep(step, inputShape, n),
        extraFixedBytes: 3 * trainableBytes,
      }),
    );
  } catch (err) {
    throw step.guard("memory estimate (training step)", err);
  }
  const batchStatistics = plan.microBatches > 1 && !inputs.cached && batchNormLayers(model).length > 0;
  log("micro-batches", {
    ...planFields(plan),
    evalBatchSize,
    // BatchNorm in training mode normalises each micro-batch by its own statistics: not the
    // whole batch's step (README, "Batches larger than memory").
    ...(batchStatistics ? { batchNormStatistics: "per micro-batch" } : {}),
  });
  return plan.microBatchSize;
}
