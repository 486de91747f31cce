// Child-process entry of `pnpm worker --check`: initialise the backend the way a worker does and
// train one step of a tiny conv net on it. A process of its own per device, because a native
// backend can abort the process (a CUDA library mismatch) and only one libtensorflow build can be
// loaded per process. Prints one JSON line (SmokeResult) on stdout.

import { initBackend, tf } from "@xnn/ml";
import { buildTinyClassifier } from "@xnn/ml/testing";
import type { BackendKind } from "@xnn/shared";
import type { SmokeResult } from "./hostCheck";

const requested = (process.env.XNN_BACKEND ?? "auto") as BackendKind;
let result: SmokeResult;
try {
  const choice = await initBackend(requested);
  const started = performance.now();
  const model = buildTinyClassifier({ imageSize: 32, numClasses: 3, seed: 1 });
  model.compile({
    optimizer: tf.train.adam(1e-3),
    loss: (y: tf.Tensor, p: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, p),
  });
  const x = tf.randomNormal([4, 32, 32, 3], 0, 1, "float32", 1);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0], "int32"), 3);
  const loss = (await model.trainOnBatch(x, y)) as number;
  tf.dispose([x, y]);
  model.dispose();
  if (!Number.isFinite(loss)) throw new Error(`one training step gave a non-finite loss (${loss})`);
  result = { ok: true, ...choice, loss, stepMs: Math.round(performance.now() - started) };
} catch (err) {
  result = { ok: false, error: (err as Error).message };
}
process.stdout.write(`SMOKE ${JSON.stringify(result)}\n`);
