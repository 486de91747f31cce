// `pnpm weights:push <dir> s3://bucket/prefix`: uploads a weights directory (the output of
// `pnpm xnn weights import`) so that run configs can say `model.pretrainedDir: s3://bucket/prefix`
// and every worker host fetches it from the bucket.
import { pushPretrainedWeights } from "../pretrainedWeights";
import { pushCommand } from "./push";

await pushCommand({
  command: "weights:push",
  what: "weights dir",
  configKey: "model.pretrainedDir",
  push: pushPretrainedWeights,
});
