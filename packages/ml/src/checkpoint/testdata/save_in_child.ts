// Run by checkpoint.test.ts in a separate Node process: proves checkpoints don't depend on
// process-local state (tfjs name counters, registration order).
import * as tf from "@tensorflow/tfjs";
import { buildModel } from "../../models/index.js";
import { saveCheckpoint } from "../checkpoint.js";

const [dir, seed] = process.argv.slice(2);
if (!dir || !seed) throw new Error("usage: save_in_child.ts <dir> <seed>");
await tf.setBackend("cpu");
// Build an unrelated model first so this process's global layer/weight counters differ from the parent's.
(
  await buildModel({
    arch: "mobilenet_v2",
    widthMultiplier: 0.35,
    imageSize: 32,
    numClasses: 2,
    dropout: 0.1,
    seed: 1,
  })
).model.dispose();
const { model } = await buildModel({
  arch: "convnext_v2_atto",
  imageSize: 32,
  numClasses: 4,
  dropout: 0.2,
  seed: Number(seed),
});
await saveCheckpoint(model, dir);
