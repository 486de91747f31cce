// Run by checkpoint.test.ts in a separate Node process: proves checkpoints don't depend on
// process-local state (tfjs name counters, registration order).
import * as tf from "@tensorflow/tfjs";
import { buildSmallModel, tinyMobileNet } from "../../testing.js";
import { saveCheckpoint } from "../checkpoint.js";

const [dir, seed] = process.argv.slice(2);
if (!dir || !seed) throw new Error("usage: save_in_child.ts <dir> <seed>");
await tf.setBackend("cpu");
// Build an unrelated model first so this process's global layer/weight counters differ from the parent's.
(await tinyMobileNet({ numClasses: 2, dropout: 0.1, seed: 1 })).model.dispose();
const { model } = await buildSmallModel({ arch: "convnext_v2_atto", numClasses: 4, seed: Number(seed) });
await saveCheckpoint(model, dir);
