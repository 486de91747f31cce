// `pnpm data:push <dir> s3://bucket/prefix`: uploads a split data set (train/ val/ test/ [predict/])
// so that run configs can say `data.dir: s3://bucket/prefix`.
import { pushDataSet } from "../dataSets";
import { pushCommand } from "./push";

await pushCommand({ command: "data:push", what: "split data dir", configKey: "data.dir", push: pushDataSet });
