import { mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { FileArtifactStore } from "@xnn/artifacts";
import { linkRunDataset, registerDatasetVersion } from "@xnn/db";
import { describeDataset, generateSynthetic } from "@xnn/ml";
import { predictResponseSchema } from "@xnn/shared/records";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiServer } from "./createServer";
import { startTestExplainWorker, type TestExplainWorker } from "./testing/explainWorker";
import { createHarness, createTestServer, type Harness } from "./testing/harness";
import { seedRunId } from "./testing/seedRuns";
import { seedTinyVersions } from "./testing/tinyVersion";

/**
 * POST /api/dataset-versions/:id/explain: the production model explains a registered image that the
 * API reads from the data set's own files (inside XNN_DATA_ROOTS only), through the explain queue.
 */
const SIZE = 32;
const SWEEP = "ds-explain";
let h: Harness;
let server: ApiServer;
let prefix: string;
let closeServer: () => Promise<void>;
let explainWorker: TestExplainWorker | undefined;
let tmp: string;
let dataDir: string;
let versionId: string;
let outsideVersion: string;
let imagePath: string;
let productionId: string;
let artifacts: FileArtifactStore;

beforeAll(async () => {
  h = await createHarness();
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-ds-explain-"));
  dataDir = path.join(tmp, "roots", "synth");
  await generateSynthetic({ out: dataDir, n: 30, size: SIZE, seed: 9 });
  const description = await describeDataset(dataDir);
  const registered = await registerDatasetVersion(h.sql, description, "data:synth");
  versionId = registered.versionId;
  imagePath = description.images.find((im) => im.split === "test" && !im.error)!.path;
  // The same files registered under a root the API may not read.
  outsideVersion = (
    await registerDatasetVersion(h.sql, { ...description, root: "/srv/elsewhere" }, "data:synth")
  ).versionId;
  const tiny = await seedTinyVersions(h, path.join(tmp, "artifacts"), {
    sweepId: SWEEP,
    task: "xray",
    imageSize: SIZE,
  });
  productionId = tiny.versionIds[0]!;
  artifacts = tiny.artifacts;
  await linkRunDataset(h.sql, seedRunId(SWEEP, 0), versionId);
  const t = await createTestServer(h, { dataRoots: [path.join(tmp, "roots")] });
  server = t.server;
  prefix = t.prefix;
  closeServer = t.close;
}, 120_000);

afterAll(async () => {
  await explainWorker?.close();
  await closeServer?.();
  await h?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const auth = () => ({ Authorization: `Bearer ${h.tokens.viewer}` });
const explain = (version: string, body: unknown, async = true) => {
  const r = request(server).post(`/api/dataset-versions/${version}/explain`).set(auth());
  return (async ? r.set("Prefer", "respond-async") : r).send(body as object);
};

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("explaining a data set image", () => {
  it("answers 503 while no worker serves explanations", async () => {
    const res = await explain(versionId, { path: imagePath });
    expect(res.status).toBe(503);
    expect(res.body.error).toMatch(/no worker serves explanations/);
  });

  it("explains the registered file with the production model, as an upload of the same bytes would be", async () => {
    explainWorker = await startTestExplainWorker(h, prefix, artifacts);
    const submitted = await explain(versionId, { path: imagePath });
    expect(submitted.status).toBe(202);
    expect(submitted.headers.location).toBe(`/api/predict/jobs/${submitted.body.jobId}`);
    const done = await until("the explanation to complete", async () => {
      const res = await request(server)
        .get(submitted.headers.location as string)
        .set(auth());
      expect(res.status).toBe(200);
      return res.body.state === "completed" ? res.body : undefined;
    });
    const explanation = predictResponseSchema.parse(done.explanation);
    expect(explanation.modelVersion).toMatchObject({ id: productionId, alias: "production", task: "xray" });
    expect(Object.keys(explanation.probabilities)).toHaveLength(3);

    // The same bytes uploaded hit the same cache entry: the API explained exactly that file.
    const bytes = await readFile(path.join(dataDir, imagePath));
    const upload = await request(server)
      .post("/api/predict")
      .set(auth())
      .attach("image", bytes, path.basename(imagePath));
    expect(upload.status).toBe(200);
    expect(upload.headers["x-explain-cache"]).toBe("hit");
    expect(upload.body.overlayPng).toBe(explanation.overlayPng);

    // Without Prefer: respond-async, the answer itself.
    const sync = await explain(versionId, { path: imagePath }, false);
    expect(sync.status).toBe(200);
    expect(predictResponseSchema.parse(sync.body).overlayPng).toBe(explanation.overlayPng);
  });

  it("refuses what is not a registered, readable image inside the data roots, and reads nothing else", async () => {
    expect((await explain(versionId, {})).status).toBe(400);
    expect((await explain(versionId, { path: imagePath, modelVersion: 3 })).body.error).toMatch(
      /modelVersion must be a non-empty string/,
    );
    const unknown = await explain(versionId, { path: "test/normal/nope.png" });
    expect(unknown.status).toBe(404);
    // A path is looked up among the version's registered images, never joined onto the root as given.
    const dotdot = await explain(versionId, { path: "../../../etc/passwd" });
    expect(dotdot.status).toBe(404);
    expect((await explain("no-such-version", { path: imagePath })).status).toBe(404);

    const outside = await explain(outsideVersion, { path: imagePath });
    expect(outside.status).toBe(409);
    expect(outside.body.error).toMatch(/outside the API's data roots/);

    // Even a registered row (written by something other than the registration) that leads out of
    // the root, by its path or by a symlink, is refused.
    await h.sql`
      INSERT INTO "DatasetImage" ("versionId", path, split, label, bytes)
      VALUES (${versionId}, '../../../../../etc/passwd', 'test', 0, 10), (${versionId}, 'test/normal/link.png', 'test', 0, 10)`;
    await symlink("/etc/passwd", path.join(dataDir, "test/normal/link.png"));
    const dotted = await explain(versionId, { path: "../../../../../etc/passwd" });
    expect(dotted.status).toBe(409);
    expect(dotted.body.error).toMatch(/leaves the data set root/);
    const linked = await explain(versionId, { path: "test/normal/link.png" });
    expect(linked.status).toBe(409);
    expect(linked.body.error).toMatch(/leaves the data set root/);
  });
});
