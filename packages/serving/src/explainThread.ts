import { parentPort, workerData } from "node:worker_threads";
import { decodeImageBuffer, explainPrediction, initBackend, type tf } from "@xnn/ml";
import type {
  ExplainThreadBoot,
  ExplainThreadReply,
  ExplainThreadRequest,
  ExplainThreadStatus,
} from "./protocol";
import { WarmModels } from "./warmModels";

// An explain worker's thread: it initialises the backend once, keeps the model versions it was
// asked for warm, and runs Integrated Gradients one request at a time. The process's main thread
// stays free for BullMQ (lock renewal of explain and training jobs), heartbeats and results.
const boot = workerData as ExplainThreadBoot;
const post = (m: ExplainThreadReply | ExplainThreadStatus) => parentPort!.postMessage(m);
const warm = new WarmModels(boot.maxModelBytes);

function modelInputSize(model: tf.LayersModel): number | undefined {
  const s = model.inputs[0]?.shape;
  return typeof s?.[1] === "number" ? s[1] : undefined;
}

async function explain(req: ExplainThreadRequest): Promise<ExplainThreadReply> {
  const started = performance.now();
  let m = warm.get(req.versionId);
  const coldLoad = m === undefined;
  if (!m) {
    if (!req.checkpointDir)
      return { type: "failed", id: req.id, kind: "not-warm", message: "model not loaded", warm: warm.ids() };
    m = await warm.load(req.versionId, req.checkpointDir);
  }
  const imageSize = req.imageSize ?? modelInputSize(m.model);
  if (imageSize === undefined)
    throw new Error(
      `model version ${req.versionId}: neither the run config nor the model gives an input size`,
    );
  const outputs = (m.model.outputs[0]?.shape[1] as number | undefined) ?? 0;
  const classNames = req.classNames ?? Array.from({ length: outputs }, (_, i) => `class_${i}`);
  let input: Float32Array;
  try {
    // The evaluation preprocessing: the explanation is of the input the model was tested on.
    input = await decodeImageBuffer(Buffer.from(req.image), { imageSize });
  } catch (err) {
    return {
      type: "failed",
      id: req.id,
      kind: "image",
      message: `the image is corrupt and cannot be decoded: ${(err as Error).message}`,
      warm: warm.ids(),
    };
  }
  const e = await explainPrediction({
    model: m.model,
    explanationModel: m.explanationModel,
    input,
    classNames,
    ig: { ...req.settings },
  });
  return {
    type: "done",
    id: req.id,
    outcome: {
      predictedClass: e.predictedClass,
      probabilities: e.probabilities,
      completenessGap: e.completenessGap,
      stepsUsed: e.stepsUsed,
      baseline: e.baseline,
      overlayPng: new Uint8Array(e.overlayPng),
      coldLoad,
      computeMs: performance.now() - started,
    },
    warm: warm.ids(),
  };
}

let chain: Promise<void> = Promise.resolve();
function handle(req: ExplainThreadRequest): void {
  chain = chain.then(async () => {
    let reply: ExplainThreadReply;
    try {
      reply = await explain(req);
    } catch (err) {
      reply = {
        type: "failed",
        id: req.id,
        kind: "other",
        message: (err as Error).message,
        warm: warm.ids(),
      };
    }
    post(reply);
  });
}

try {
  const choice = await initBackend(boot.backend);
  post({ type: "ready", backend: choice.backend, device: choice.device });
} catch (err) {
  post({ type: "init-failed", message: (err as Error).message });
  process.exit(1);
}
parentPort!.on("message", (m: ExplainThreadRequest) => handle(m));
