import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createSql, type Sql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl } from "@xnn/db/testing";
import { generateSynthetic } from "@xnn/ml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunDatasets } from "./runDatasets";

let db: { url: string; drop: () => Promise<void> };
let sql: Sql;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase(testDatabaseServerUrl());
  sql = createSql(db.url, { max: 3 });
  dir = await mkdtemp(path.join(os.tmpdir(), "xnn-run-datasets-"));
  await sql`
    INSERT INTO "Sweep" (id, name, task, fingerprint, "sourceYaml", status, "createdBy", "updatedAt")
    VALUES ('s', 's', 'xray', 's', 'seeded', 'running', 'test', now())`;
  for (const id of ["r0", "r1", "r2"]) {
    await sql`
      INSERT INTO "Run" (id, "sweepId", key, config, "configHash", model, "classWeighting", stage, "jobId")
      VALUES (${id}, 's', ${id}, '{}', ${id}, 'mobilenet_v2', 'none', 'fe', ${id})`;
  }
});

afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe("RunDatasets", () => {
  it("registers a data set on first use, links every run to its version, and registers a new version when the content changes", async () => {
    const data = path.join(dir, "set");
    await generateSynthetic({ out: data, n: 24, size: 16, seed: 2 });
    const datasets = new RunDatasets(sql, "worker:w1");
    const v1 = await datasets.linkRun("r0", data, data);
    expect(await datasets.linkRun("r1", data, data)).toBe(v1);
    const [version] = await sql`SELECT "registeredBy", "imageCount" FROM "DatasetVersion" WHERE id = ${v1}`;
    expect(version).toEqual({ registeredBy: "worker:w1", imageCount: 24 });

    const [img] = await sql`SELECT path FROM "DatasetImage" WHERE "versionId" = ${v1} ORDER BY path LIMIT 1`;
    await writeFile(path.join(data, img!.path), "not an image any more");
    const v2 = await datasets.linkRun("r2", data, data);
    expect(v2).not.toBe(v1);
    const runs = await sql`SELECT id, "datasetVersionId" FROM "Run" ORDER BY id`;
    expect(runs.map((r) => [r.id, r.datasetVersionId])).toEqual([
      ["r0", v1],
      ["r1", v1],
      ["r2", v2],
    ]);
    const [v2row] = await sql`SELECT unreadable FROM "DatasetVersion" WHERE id = ${v2}`;
    expect(v2row!.unreadable).toEqual([
      { path: img!.path, reason: expect.stringMatching(/not a PNG or JPEG/) },
    ]);
    // One location, two contents.
    expect(await sql`SELECT count(*)::int AS n FROM "Dataset"`).toEqual([{ n: 1 }]);
  });
});
