import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { generateSynthetic } from "@xnn/ml";
import { afterAll, beforeAll, expect, it } from "vitest";
import { syntheticDataPresent } from "./prepareAssets";

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-demo-assets-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

it("reuses a synthetic set from the current generator and regenerates one from an older generator", async () => {
  const dir = path.join(tmp, "synthetic");
  expect(syntheticDataPresent(dir)).toBe(false);
  await generateSynthetic({ out: dir, n: 30, size: 32, seed: 1 });
  expect(syntheticDataPresent(dir)).toBe(true);
  const file = path.join(dir, "synth.json");
  const meta = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  await writeFile(file, JSON.stringify({ ...meta, generator: "xnn-synth-v1" }));
  expect(syntheticDataPresent(dir)).toBe(false);
  await writeFile(file, "{ not json");
  expect(syntheticDataPresent(dir)).toBe(false);
});
