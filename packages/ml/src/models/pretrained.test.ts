import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MANIFEST_JSON, MODEL_JSON, saveCheckpoint } from "../checkpoint/index.js";
import { buildModel, buildModelSkeleton, isHeadLayerName } from "./index.js";

let tmp: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "xnn-pre-"));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const MB = { arch: "mobilenet_v2", imageSize: 32, numClasses: 3, dropout: 0.2 } as const;

function weightsByName(model: tf.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
}

describe("buildModel({ pretrainedDir })", () => {
  it("copies backbone weights by name, keeps the fresh head, reports init=pretrained", async () => {
    const source = await buildModel({ ...MB, widthMultiplier: 0.35, seed: 100 });
    // Mimic a converted Keras model: weights under an outer model scope, no xnn manifest.
    const dir = path.join(tmp, "keras-like");
    await saveCheckpoint(source.model, dir);
    await fs.rm(path.join(dir, MANIFEST_JSON));
    const json = JSON.parse(await fs.readFile(path.join(dir, MODEL_JSON), "utf8"));
    for (const w of json.weightsManifest[0].weights) w.name = `mobilenetv2_0.35_224/${w.name}`;
    await fs.writeFile(path.join(dir, MODEL_JSON), JSON.stringify(json));

    const target = await buildModel({ ...MB, widthMultiplier: 0.35, seed: 200, pretrainedDir: dir });
    const fresh = await buildModel({ ...MB, widthMultiplier: 0.35, seed: 200 });
    expect(target.init).toBe("pretrained");
    const src = weightsByName(source.model);
    const tgt = weightsByName(target.model);
    const frs = weightsByName(fresh.model);
    let backbone = 0;
    for (const [name, v] of tgt) {
      const layer = name.split("/")[0] as string;
      const expected = isHeadLayerName(layer) ? frs.get(name) : src.get(name);
      expect(Buffer.from(v.buffer).equals(Buffer.from((expected as Float32Array).buffer)), name).toBe(true);
      if (!isHeadLayerName(layer)) backbone++;
    }
    expect(backbone).toBe(52 * 1 + 52 * 4); // 52 bias-free convs + 52 BNs with 4 weights each
    for (const m of [source.model, target.model, fresh.model]) m.dispose();
  });

  it("shape mismatch names the directory and the layer", async () => {
    const wider = await buildModel({ ...MB, widthMultiplier: 0.5, seed: 1 });
    const dir = path.join(tmp, "alpha050");
    await saveCheckpoint(wider.model, dir);
    wider.model.dispose();
    const err = (await buildModel({ ...MB, widthMultiplier: 0.35, seed: 1, pretrainedDir: dir }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain(dir);
    expect(err.message).toMatch(
      /shape mismatch for layer 'block_1_project' weight 'kernel': file has \[1,1,48,16\], model expects \[1,1,48,8\]/,
    );
  });

  it("missing layers (wrong architecture) and a missing directory are clear errors", async () => {
    // Only names and shapes matter here, so the zero-weight skeleton saves ~11M random draws.
    const r = buildModelSkeleton({ arch: "resnet18", imageSize: 32, numClasses: 3, dropout: 0.2, seed: 1 });
    const dir = path.join(tmp, "resnet18");
    await saveCheckpoint(r.model, dir);
    r.model.dispose();
    await expect(buildModel({ ...MB, widthMultiplier: 0.35, seed: 1, pretrainedDir: dir })).rejects.toThrow(
      /pretrained weights in .*resnet18: 104 backbone layer\(s\) not found, e\.g\. Conv1, bn_Conv1/,
    );
    await expect(buildModel({ ...MB, seed: 1, pretrainedDir: path.join(tmp, "absent") })).rejects.toThrow(
      /pretrained weights in .*absent: cannot read/,
    );
  });
});
