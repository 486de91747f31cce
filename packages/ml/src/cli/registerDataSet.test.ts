import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { createSql, type Sql } from "@xnn/db";
import { createTestDatabase, testDatabaseServerUrl } from "@xnn/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../data/testUtil.js";
import { synthCommand } from "./dataCommands.js";
import { registrarFor } from "./registerDataSet.js";
import { captureIO as capture } from "./testIO.js";

let base: string;
let db: { url: string; drop: () => Promise<void> };
let sql: Sql;

beforeAll(async () => {
  base = await tempDir("xnn-register-");
  db = await createTestDatabase(testDatabaseServerUrl());
  sql = createSql(db.url, { max: 2 });
});
afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await db?.drop();
  await rm(base, { recursive: true, force: true });
});

describe("data commands register what they write", () => {
  it("data:synth registers the data set with class counts, sizes, formats and one row per image; again is a no-op; new content is a new version", async () => {
    const out = path.join(base, "synth");
    const io = capture();
    const register = registrarFor(db.url);
    const argv = ["--out", out, "--n", "30", "--size", "24", "--seed", "3"];
    expect(await synthCommand(argv, io, { register })).toBe(0);
    expect(io.stderr).not.toMatch(/error|warning/);
    expect(io.stdout).toMatch(
      /registered: data set .*synth version [0-9a-f-]{36} \(fingerprint [0-9a-f]{12}, 30 images\)/,
    );

    const [dataset] = await sql`SELECT * FROM "Dataset" WHERE root = ${out}`;
    expect(dataset).toMatchObject({ name: "synth", classNames: ["bacteria", "normal", "virus"] });
    const versions = await sql`SELECT * FROM "DatasetVersion" WHERE "datasetId" = ${dataset!.id}`;
    expect(versions).toHaveLength(1);
    const v = versions[0]!;
    expect(v).toMatchObject({ imageCount: 30, registeredBy: "data:synth", unreadable: [] });
    const counts = v.classCounts as Record<string, Record<string, number>>;
    const total = Object.values(counts)
      .flatMap((c) => Object.values(c))
      .reduce((a, b) => a + b, 0);
    expect(total).toBe(30);
    expect(v.formats).toEqual({ png: 30 });
    expect(v.sizes).toMatchObject({ minWidth: 24, maxWidth: 24, minHeight: 24, maxHeight: 24 });
    expect(v.maskCount).toBeGreaterThan(0);
    const [{ n }] =
      (await sql`SELECT count(*)::int AS n FROM "DatasetImage" WHERE "versionId" = ${v.id}`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(30);

    // Registering the same content again finds the version.
    const again = await register!(out, "data:synth");
    expect(again).toMatch(new RegExp(`^already registered: .* version ${v.id}`));

    // One image changed (and one made unreadable): a second version of the same data set.
    const [img] =
      await sql`SELECT path FROM "DatasetImage" WHERE "versionId" = ${v.id} AND split = 'test' LIMIT 1`;
    await writeFile(path.join(out, img!.path), "garbage");
    const changed = await register!(out, "data:synth");
    expect(changed).toMatch(/^registered: .*, 1 unreadable\)/);
    const all =
      await sql`SELECT unreadable FROM "DatasetVersion" WHERE "datasetId" = ${dataset!.id} ORDER BY "createdAt"`;
    expect(all).toHaveLength(2);
    expect(all[1]!.unreadable).toEqual([
      { path: img!.path, reason: expect.stringMatching(/not a PNG or JPEG/) },
    ]);
  });

  it("without a database the command says nothing was registered and still succeeds", async () => {
    const io = capture();
    const out = path.join(base, "plain");
    const code = await synthCommand(["--out", out, "--n", "20", "--size", "16"], io, {
      register: registrarFor(undefined),
    });
    expect(io.stderr).not.toMatch(/error|warning/);
    expect(code).toBe(0);
    expect(io.stdout).toContain("not registered in the data set registry (DATABASE_URL is not set)");
  });

  it("a registry that cannot be reached warns and keeps the data set", async () => {
    const io = capture();
    const out = path.join(base, "unreachable");
    const register = registrarFor("postgresql://postgres@127.0.0.1:1/none");
    expect(await synthCommand(["--out", out, "--n", "20", "--size", "16"], io, { register })).toBe(0);
    expect(io.stderr).toMatch(/warning: the data set was written but not registered: /);
  });
});
