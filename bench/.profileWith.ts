// temporary (not committed): runs bench/profile.ts with kernel options from XNN_TMP_OPTS
import { setWasmKernelOptions } from "@xnn/ml";
setWasmKernelOptions(JSON.parse(process.env.XNN_TMP_OPTS ?? "{}"));
await import("./profile.ts");
