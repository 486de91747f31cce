import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { integratedGradients } from "../../explain/integratedGradients.js";
import { buildTinyClassifier } from "../../explain/tinyClassifier.js";
import { initBackend } from "../initBackend.js";
import { batchNormGradConfig } from "./batchNormGrad.js";
import {
  assertKernelsInstalled,
  installKernels,
  kernelOwners,
  kernelsInstalledFor,
  wasmKernelConfigs,
} from "./installKernels.js";

const run = promisify(execFile);

// This file's process starts with nothing installed (vitest runs each file in its own process);
// the first test relies on that.
describe("installKernels, through initBackend", () => {
  it("installs nothing until initBackend, then every kernel and gradient of the backend, once", async () => {
    expect(kernelsInstalledFor("wasm")).toBe(false);
    expect(Object.values(kernelOwners("wasm"))).not.toContain("xnn");
    await tf.setBackend("cpu");
    expect(() => assertKernelsInstalled("trainPipeline")).toThrow(
      /trainPipeline: the kernels and gradients for backend "cpu" are not installed; select the backend with initBackend\(\)/,
    );

    await initBackend("wasm");
    const owners = kernelOwners("wasm");
    expect(Object.keys(owners)).toHaveLength(wasmKernelConfigs.length + 6);
    for (const [what, owner] of Object.entries(owners)) expect(owner, what).toBe("xnn");
    expect(tf.getGradient(tf.FusedBatchNorm)?.gradFunc).toBe(batchNormGradConfig.gradFunc);
    expect(() => assertKernelsInstalled("x")).not.toThrow();

    // idempotent, also when called directly
    installKernels("wasm");
    installKernels("wasm");
    for (const cfg of wasmKernelConfigs) {
      expect(tf.getKernel(cfg.kernelName, "wasm")?.kernelFunc).toBe(cfg.kernelFunc);
    }

    // cpu has no kernels of ours, but initBackend has not set it up yet: entry points refuse it
    await tf.setBackend("cpu");
    expect(() => assertKernelsInstalled("x")).toThrow(/backend "cpu"/);
    const model = buildTinyClassifier({ imageSize: 8, numClasses: 2, seed: 1 });
    await expect(integratedGradients(model, new Float32Array(8 * 8 * 3))).rejects.toThrow(
      /^integratedGradients: .*backend "cpu".*initBackend\(\)/,
    );
    await initBackend("cpu");
    expect(() => assertKernelsInstalled("x")).not.toThrow();
    expect(kernelOwners("cpu")).toEqual({
      [`grad:${tf.FusedBatchNorm}`]: "xnn",
      [`grad:${tf.Mean}`]: "xnn",
      [`grad:${tf.Tile}`]: "xnn",
    });
    model.dispose();
  });

  it("registers the same kernels and gradients whatever order the modules were imported in", async () => {
    const req = createRequire(import.meta.url);
    const here = (rel: string) => pathToFileURL(fileURLToPath(new URL(rel, import.meta.url))).href;
    const tsx = pathToFileURL(req.resolve("tsx/esm")).href;
    const tfjs = pathToFileURL(req.resolve("@tensorflow/tfjs")).href;
    const wasm = pathToFileURL(req.resolve("@tensorflow/tfjs-backend-wasm")).href;
    const library = here("../../index.ts");
    const orders = [
      // the wasm package and tfjs first, then the library
      [tfjs, wasm, library],
      // the modules that used to register gradients themselves first, the wasm package last
      [here("../../train/train.ts"), here("../../explain/integratedGradients.ts"), library, wasm],
    ];
    const outcome = async (order: string[]) => {
      const script = `
        for (const m of ${JSON.stringify(order)}) await import(m);
        const k = await import(${JSON.stringify(here("./installKernels.ts"))});
        const { initBackend } = await import(${JSON.stringify(here("../initBackend.ts"))});
        const before = k.kernelOwners("wasm");
        await initBackend("wasm");
        console.log("RESULT " + JSON.stringify({ before, after: k.kernelOwners("wasm") }));`;
      const { stdout } = await run(process.execPath, ["--import", tsx, "--input-type=module", "-e", script], {
        encoding: "utf8",
        timeout: 100_000,
      });
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
      if (!line) throw new Error(`no result from the child process: ${stdout}`);
      return JSON.parse(line.slice(7)) as { before: Record<string, string>; after: Record<string, string> };
    };
    const [first, second] = await Promise.all(orders.map(outcome));
    if (!first || !second) throw new Error("a child process gave no outcome");
    // before initBackend nothing of ours is registered, however much of the library was imported
    expect(Object.values(first.before)).not.toContain("xnn");
    expect(second.before).toEqual(first.before);
    // after it, everything is ours, in either order
    expect(Object.values(first.after).every((o) => o === "xnn")).toBe(true);
    expect(second.after).toEqual(first.after);
  });
});
