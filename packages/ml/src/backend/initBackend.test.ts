import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { initBackend } from "./initBackend.js";

describe("initBackend", () => {
  it("auto falls through tfjs-node-gpu and tfjs-node (absent here) to wasm, logging why", async () => {
    const logs: Array<[string, Record<string, unknown>]> = [];
    const r = await initBackend("auto", (msg, fields) => logs.push([msg, fields]));
    expect(r.backend).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(r.reason).toMatch(/@tensorflow\/tfjs-node-gpu is not installed/);
    expect(r.reason).toMatch(/@tensorflow\/tfjs-node is not installed/);
    expect(logs.filter(([m]) => m === "backend candidate skipped")).toHaveLength(2);
    expect(logs.at(-1)?.[0]).toBe("backend selected");
    expect(logs.at(-1)?.[1]).toMatchObject({ requested: "auto", backend: "wasm" });
    // the training kernels come with it
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeDefined();
    expect(tf.getKernel("DepthwiseConv2dNativeBackpropFilter", "wasm")).toBeDefined();
  });

  it("is idempotent and restores its backend after another was selected", async () => {
    const a = await initBackend("wasm");
    const [b, c] = await Promise.all([initBackend("wasm"), initBackend("wasm")]);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    const cpu = await initBackend("cpu");
    expect(cpu.backend).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    await initBackend("wasm");
    expect(tf.getBackend()).toBe("wasm");
    await initBackend("cpu");
    const again = await initBackend("auto");
    expect(again.backend).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
  });

  it('"tensorflow" fails with a message naming both packages', async () => {
    await expect(initBackend("tensorflow")).rejects.toThrow(
      /neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node is usable.*use backend "wasm"/,
    );
  });

  it("finds the wasm binaries whatever the working directory is", () => {
    const req = createRequire(import.meta.url);
    const tsx = pathToFileURL(req.resolve("tsx/esm")).href;
    const mod = pathToFileURL(join(fileURLToPath(new URL(".", import.meta.url)), "initBackend.ts")).href;
    // resolved here: from the temp cwd a bare specifier would not resolve
    const tfjs = pathToFileURL(req.resolve("@tensorflow/tfjs")).href;
    const cwd = mkdtempSync(join(tmpdir(), "xnn-initbackend-"));
    const out = execFileSync(
      process.execPath,
      [
        "--import",
        tsx,
        "-e",
        `import(${JSON.stringify(mod)}).then((m) => m.initBackend("wasm")).then(async (r) => {
           const tf = await import(${JSON.stringify(tfjs)});
           const t = tf.conv2d(tf.ones([1, 5, 5, 2]), tf.ones([3, 3, 2, 1]), 1, "same");
           console.log("RESULT " + JSON.stringify({ backend: r.backend, v: (await t.data())[6] }));
         })`,
      ],
      { cwd, encoding: "utf8", timeout: 60_000, stdio: ["ignore", "pipe", "pipe"] },
    );
    const line = out.split("\n").find((l) => l.startsWith("RESULT "));
    expect(line).toBeDefined();
    expect(JSON.parse((line as string).slice(7))).toEqual({ backend: "wasm", v: 18 });
  });
});
