import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { applyMigrations, createSql, listMigrations, MIGRATIONS_DIR, type Sql } from "@xnn/db";
import { testDatabaseServerUrl, withDatabase } from "@xnn/db/testing";
import { comparisonSchema, runDetailSchema, runRowSchema } from "@xnn/shared/records";
import request from "supertest";
import { afterAll, beforeAll, expect, it } from "vitest";
import { z } from "zod";
import { createHarness, createTestServer, type Harness } from "./testing/harness";

// Evaluations written before the explanation-quality columns were renamed (migration
// 20261204121500_explanation_quality_names): a database migrated up to just before it, rows written
// the way the worker of that time wrote them (old column names, per-image scores as JSON), then the
// rename applied. The API must answer them under the new names, parsed by the current records.

const RENAME = "20261204121500_explanation_quality_names";
const RUN = "old.run-0";
/** `explainPerImage` exactly as the worker of that time stored it (non-finite figures as null). */
const OLD_PER_IMAGE = [
  {
    path: "test/bacteria/0.png",
    label: 0,
    completenessGap: 0.02,
    stepsUsed: 67,
    deletionAuc: 0.2,
    insertionAuc: 0.6,
    maskShare: 0.7,
  },
  {
    path: "test/normal/0.png",
    label: 1,
    completenessGap: null,
    stepsUsed: 400,
    deletionAuc: 0.3,
    insertionAuc: 0.5,
    maskShare: null,
  },
];

let h: Harness;

beforeAll(async () => {
  const server = testDatabaseServerUrl();
  const database = `xnn_t_old_${Date.now().toString(36)}`;
  await withAdmin((admin) => admin.unsafe(`CREATE DATABASE "${database}"`));
  const url = withDatabase(server, database);

  const before = mkdtempSync(path.join(os.tmpdir(), "xnn-migrations-"));
  try {
    const older = listMigrations().filter((m) => m.name < RENAME);
    expect(older.length).toBeLessThan(listMigrations().length);
    for (const m of older)
      cpSync(path.join(MIGRATIONS_DIR, m.name), path.join(before, m.name), { recursive: true });
    await applyMigrations(url, before);
  } finally {
    rmSync(before, { recursive: true, force: true });
  }

  const old = createSql(url, { max: 1 });
  await old`INSERT INTO "Sweep" (id, name, task, fingerprint, "sourceYaml", status, "createdBy", "updatedAt")
    VALUES ('old', 'old', 'xray', 'old', 'seeded', 'succeeded', 'seed', now())`;
  await old`INSERT INTO "Run" (id, "sweepId", key, config, "configHash", model, "classWeighting", stage, "jobId", status, "testF1")
    VALUES (${RUN}, 'old', 'run-0', ${JSON.stringify({ train: { epochs: 2 } })}::text::jsonb, ${"0".repeat(64)},
      'resnet18', 'none', 'fe', 'job-old', 'succeeded', 0.8)`;
  await old`INSERT INTO "Evaluation" (id, "runId", split, accuracy, precision, recall, f1, "perClass", "microAp",
      "explainProbes", "explainGap", "explainSteps", "deletionAuc", "insertionAuc", "maskShare", "explainMs", "explainPerImage")
    VALUES ('eval-old', ${RUN}, 'test', 0.9, 0.85, 0.84, 0.8,
      ${JSON.stringify({ bacteria: { precision: 0.9, recall: 0.8, f1: 0.85, support: 10, ap: 0.9, tp: 8, fp: 1, fn: 2 } })}::text::jsonb,
      0.77, 2, 0.031, 233.5, 0.25, 0.55, 0.7, 5100, ${JSON.stringify(OLD_PER_IMAGE)}::text::jsonb)`;
  await old.end({ timeout: 5 });

  // The rename first, then whatever came after it (the database an upgrade meets).
  const applied = await applyMigrations(url);
  expect(applied[0]).toBe(RENAME);
  expect(applied).toEqual(
    listMigrations()
      .filter((m) => m.name >= RENAME)
      .map((m) => m.name),
  );

  h = await createHarness({
    url,
    drop: () => withAdmin((admin) => admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)),
  });
});

afterAll(async () => {
  await h?.close();
});

async function withAdmin(work: (admin: Sql) => Promise<unknown>): Promise<void> {
  const admin = createSql(testDatabaseServerUrl(), { max: 1 });
  try {
    await work(admin);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

it("an evaluation written before the rename answers under the new names, its per-image JSON unchanged", async () => {
  const t = await createTestServer(h);
  try {
    const get = (u: string) => request(t.server).get(u).set("Authorization", `Bearer ${h.tokens.viewer}`);
    const summary = {
      probeImages: 2,
      completenessGap: 0.031,
      stepsUsed: 233.5,
      deletionAuc: 0.25,
      insertionAuc: 0.55,
      maskShare: 0.7,
      durationMs: 5100,
    };
    const detail = runDetailSchema.parse((await get(`/api/runs/${RUN}`)).body);
    expect(detail.explanation).toEqual({ ...summary, perImage: OLD_PER_IMAGE });
    const rows = z.array(runRowSchema).parse((await get("/api/runs")).body);
    expect(rows.map((r) => r.explanation)).toEqual([summary]);
    const comparison = comparisonSchema.parse((await get(`/api/compare?runs=${RUN}`)).body);
    expect(comparison.runs[0]!.explanation).toEqual(summary);
  } finally {
    await t.close();
  }
});
