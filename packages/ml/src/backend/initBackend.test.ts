import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { backendInitCount, initBackend } from "./initBackend.js";

describe("initBackend", () => {
  it("auto picks the best usable backend and says why it skipped the others", async () => {
    const logs: Array<[string, Record<string, unknown>]> = [];
    const r = await initBackend("auto", (msg, fields) => logs.push([msg, fields]));
    const skips = logs.filter(([m]) => m === "backend candidate skipped").map(([, f]) => String(f.why));
    expect(logs.at(-1)?.[0]).toBe("backend selected");
    expect(logs.at(-1)?.[1]).toMatchObject({ requested: "auto", backend: r.backend });
    expect(tf.getBackend()).toBe(r.backend);
    if (r.backend === "tensorflow") {
      // A host set up as the README says: libtensorflow loaded (GPU build, or the CPU one).
      expect(r.reason).toMatch(/@tensorflow\/tfjs-node(-gpu)? /);
      return;
    }
    // Here (no libtensorflow download possible) both native packages are skipped, each with a cause,
    // and the wasm backend comes with the training kernels it lacks as shipped.
    expect(r.backend).toBe("wasm");
    expect(r.device).toBe("cpu");
    expect(skips).toHaveLength(2);
    expect(skips[0]).toMatch(
      /^@tensorflow\/tfjs-node-gpu (is not installed|is installed but no CUDA device|failed to load|loaded but)/,
    );
    expect(skips[1]).toMatch(/^@tensorflow\/tfjs-node (is not installed|failed to load|loaded but)/);
    for (const why of skips) expect(r.reason).toContain(why);
    // one line each: tfjs-node's own load error goes on with paragraphs of advice
    for (const why of skips) expect(why).not.toContain("\n");
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

  it('"tensorflow" loads libtensorflow or fails with a message naming both packages and why', async () => {
    const r = await initBackend("tensorflow").catch((e: Error) => e);
    if (r instanceof Error) {
      expect(r.message).toMatch(
        /neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node is usable \(@tensorflow\/tfjs-node-gpu .+; @tensorflow\/tfjs-node .+\).*use backend "wasm"/,
      );
    } else {
      expect(r.backend).toBe("tensorflow");
      expect(tf.getBackend()).toBe("tensorflow");
    }
  });

  it("counts real initialisations, not re-applications of a settled choice", async () => {
    await initBackend("cpu");
    const n = backendInitCount();
    await initBackend("cpu");
    await initBackend("wasm");
    await initBackend("cpu");
    expect(backendInitCount()).toBe(n);
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
