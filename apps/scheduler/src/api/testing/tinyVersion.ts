import path from "node:path";
import { FileArtifactStore } from "@xnn/artifacts";
import { initBackend, saveCheckpoint } from "@xnn/ml";
import { buildTinyClassifier } from "@xnn/ml/testing";
import type { Harness } from "./harness";
import { seedRunId, seedRuns } from "./seedRuns";

/**
 * Seeded runs whose checkpoints are real tiny classifiers, stored as a worker stores them (file
 * artifacts under `dir`), and version 1 of `task` promoted to production: what the explain tests
 * need from a finished sweep.
 */
export async function seedTinyVersions(
  h: Harness,
  dir: string,
  opts: { sweepId: string; task: string; imageSize: number; count?: number },
): Promise<{ artifacts: FileArtifactStore; versionIds: string[] }> {
  await initBackend("auto");
  const count = opts.count ?? 1;
  await seedRuns(h.sql, { sweepId: opts.sweepId, task: opts.task, runs: count, artifacts: true });
  const artifacts = new FileArtifactStore(dir);
  const versionIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const model = buildTinyClassifier({ imageSize: opts.imageSize, numClasses: 3, seed: 10 + i * 7 });
    const local = path.join(dir, `ckpt-${i}`);
    await saveCheckpoint(model, local);
    model.dispose();
    const runId = seedRunId(opts.sweepId, i);
    const stored = await artifacts.putDir(local, `ckpt-${i}`, { digestOf: ["model.json", "weights.bin"] });
    await h.prisma.checkpoint.update({
      where: { id: `ckpt-${runId}` },
      data: { uri: stored.uri, sha256: stored.sha256 },
    });
    await h.prisma.run.update({
      where: { id: runId },
      data: {
        config: { task: opts.task, data: { dir: "/data", imageSize: opts.imageSize, augment: false } },
      },
    });
    const v = await h.prisma.modelVersion.create({
      data: {
        task: opts.task,
        version: i + 1,
        runId,
        checkpointId: `ckpt-${runId}`,
        alias: i === 0 ? "production" : null,
      },
    });
    versionIds.push(v.id);
  }
  return { artifacts, versionIds };
}
