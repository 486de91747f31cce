// The API half of the bad-input catalogue (issue 12): every case asserts the status, that the
// message names what is wrong, and that nothing was written (no Sweep, Run, token, model version,
// job or file; an AuditEvent only where the attempt itself is the thing to record).
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_PAGE } from "./simpleRest";
import { CONF_DIR, useApiHarness } from "./testing/harness";
import { seedRunId, seedRuns } from "./testing/seedRuns";

let tmp: string;
let confDir: string;
let dataRoot: string;

// Markers planted in files outside the allowed directories: no answer may ever contain them.
const SECRET_YAML = "password: SECRET-hunter2-yaml\ntoken: SECRET-abc\n";
const SECRET_CNF = "SECRET_KEY = SECRET-openssl-like\n[ new_oids ]\nSECRET_OID = 1.2.3\n";
const SECRETS = /SECRET|hunter2|root:x:0|openssl_conf|new_oids/;

const h = useApiHarness({
  seed: makeConfAndDataRoots,
  server: () => ({ confDir, dataRoot, dataRoots: [path.join(dataRoot, "data")] }),
});

/** The conf folder and data root the server is confined to, with escapes out of them planted. */
async function makeConfAndDataRoots() {
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-badinput-"));
  confDir = path.join(tmp, "conf");
  dataRoot = path.join(tmp, "root");
  const outside = path.join(tmp, "outside");
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(outside, "secret.yaml"), SECRET_YAML);
  await writeFile(path.join(outside, "secret.cnf"), SECRET_CNF);
  await mkdir(path.join(outside, "pipelines"), { recursive: true });
  await writeFile(path.join(outside, "pipelines/mobilenet_v2_fe.yaml"), SECRET_YAML);

  await cp(path.join(CONF_DIR, "demo-base"), path.join(confDir, "demo-base"), { recursive: true });
  await symlink(outside, path.join(confDir, "escape"));
  await symlink(path.join(outside, "secret.cnf"), path.join(confDir, "linked.yaml"));
  await mkdir(path.join(confDir, "linkdir"), { recursive: true });
  await symlink(path.join(outside, "secret.yaml"), path.join(confDir, "linkdir/mobilenet_v2_fe.yaml"));
  await writeFile(path.join(confDir, "not-a-pipeline.yaml"), SECRET_YAML);
  await writeFile(path.join(confDir, "broken.yaml"), `${SECRET_CNF}SECRET: [unclosed\n`);

  // The demo pipelines' data.dir (data/synthetic) resolves against dataRoot, inside the one data root.
  await mkdir(path.join(dataRoot, "data/synthetic"), { recursive: true });
  await symlink(outside, path.join(dataRoot, "data/out"));
}

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Counts {
  sweeps: number;
  runs: number;
  tokens: number;
  versions: number;
  audit: number;
  jobs: number;
  files: string[];
}

async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

async function counts(): Promise<Counts> {
  return {
    sweeps: await h.prisma.sweep.count(),
    runs: await h.prisma.run.count(),
    tokens: await h.prisma.apiToken.count(),
    versions: await h.prisma.modelVersion.count(),
    audit: await h.prisma.auditEvent.count(),
    jobs: await h.queue.count(),
    files: [...(await listTree(confDir)), ...(await listTree(dataRoot))],
  };
}

/**
 * Runs `attempt`, then checks nothing changed; `audited` says which audit row the attempt itself
 * must have left (a mutation is recorded whatever its outcome, a read or a validation never).
 */
async function expectNothingWritten(
  attempt: () => Promise<request.Response>,
  audited?: { action: string; outcome: "denied" | "rejected" },
): Promise<request.Response> {
  const before = await counts();
  const res = await attempt();
  const after = await counts();
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(500);
  expect({ ...after, audit: before.audit }).toEqual(before);
  expect(JSON.stringify(res.body)).not.toMatch(SECRETS);
  if (audited) {
    expect(after.audit).toBe(before.audit + 1);
    const row = await h.prisma.auditEvent.findFirstOrThrow({ orderBy: { createdAt: "desc" } });
    expect(row).toMatchObject({ ...audited, status: res.status });
  } else {
    expect(after.audit).toBe(before.audit);
  }
  return res;
}

const sweep = (base: string, extra = "") =>
  `name: bad-input\nbase: ${base}\n${extra}axes:\n  model: [mobilenet_v2]\n  stage: [fe]\n`;
const sweepWithAxes = (axes: string) => `name: bad-input\nbase: demo-base\naxes:\n${axes}`;

interface SweepCase {
  name: string;
  yaml: string;
  path: string;
  message: RegExp;
}

const SWEEP_CASES: SweepCase[] = [
  {
    name: "absolute base: /etc/passwd",
    yaml: sweep("/etc/passwd"),
    path: "base",
    message: /"\/etc\/passwd" is outside the configuration directory/,
  },
  {
    name: "absolute base: /etc/ssl/openssl.cnf",
    yaml: sweep("/etc/ssl/openssl.cnf"),
    path: "base",
    message: /outside the configuration directory/,
  },
  {
    name: "base climbing out with ..",
    yaml: sweep("../../../../../../etc/passwd"),
    path: "base",
    message: /outside the configuration directory/,
  },
  {
    name: "base with .. that would land back inside",
    yaml: sweep("demo-base/../demo-base"),
    path: "base",
    message: /outside the configuration directory/,
  },
  {
    name: "base under ~",
    yaml: sweep("~/pipelines"),
    path: "base",
    message: /outside the configuration directory/,
  },
  {
    name: "base through a symlinked folder that leads out",
    yaml: sweep("escape/pipelines"),
    path: "base",
    message: /outside the configuration directory/,
  },
  {
    name: "base: a symlinked file that leads out",
    yaml: sweep("linked.yaml", "").replace("  stage: [fe]\n", ""),
    path: "base",
    message: /outside the configuration directory/,
  },
  {
    name: "base folder whose pipeline file links out",
    yaml: sweep("linkdir"),
    path: "",
    message: /mobilenet_v2_fe\.yaml:1:1: links outside the configuration directory/,
  },
  {
    name: "base: a YAML file inside conf that is not a pipeline (content not echoed)",
    yaml: sweep("not-a-pipeline.yaml").replace("  stage: [fe]\n", ""),
    path: "",
    message: /not-a-pipeline\.yaml:1:1: not a pipeline file/,
  },
  {
    name: "base: a file inside conf that is not YAML (content not echoed)",
    yaml: sweep("broken.yaml").replace("  stage: [fe]\n", ""),
    path: "",
    message: /broken\.yaml:\d+:\d+: not a pipeline file: invalid YAML \(content not shown\)/,
  },
  {
    name: "base that does not exist",
    yaml: sweep("no-such-base"),
    path: "base",
    message: /base not found: no-such-base/,
  },
  {
    name: "base with a control character",
    yaml: sweep('"demo-base\\u0000"'),
    path: "base",
    message: /control characters/,
  },
  {
    name: "data.dir override outside the data roots",
    yaml: sweep("demo-base", "overrides:\n  data.dir: /etc\n"),
    path: "overrides.data.dir",
    message: /data\.dir "\/etc" is outside the data roots \(XNN_DATA_ROOTS\)/,
  },
  {
    name: "data.dir axis value climbing out with ..",
    yaml: sweepWithAxes(
      "  model: [mobilenet_v2]\n  stage: [fe]\n  data.dir: [data/synthetic, data/../../outside]\n",
    ),
    path: "axes.data.dir[1]",
    message: /data\.dir "data\/\.\.\/\.\.\/outside" is outside the data roots/,
  },
  {
    name: "data.dir through a symlink in the data root that leads out",
    yaml: sweep("demo-base", "overrides:\n  data.dir: data/out/pipelines\n"),
    path: "overrides.data.dir",
    message: /is outside the data roots/,
  },
  {
    name: "model.pretrainedDir override outside the data roots",
    yaml: sweep("demo-base", "overrides:\n  model.pretrainedDir: /etc\n"),
    path: "overrides.model.pretrainedDir",
    message: /model\.pretrainedDir "\/etc" is outside the data roots \(XNN_DATA_ROOTS\)/,
  },
  {
    name: "model.pretrainedDir axis value climbing out with ..",
    yaml: sweepWithAxes(
      "  model: [mobilenet_v2]\n  stage: [fe]\n  model.pretrainedDir: [data/weights, data/../../outside]\n",
    ),
    path: "axes.model.pretrainedDir[1]",
    message: /model\.pretrainedDir "data\/\.\.\/\.\.\/outside" is outside the data roots/,
  },
  {
    name: "model.pretrainedDir through a symlink in the data root that leads out",
    yaml: sweep("demo-base", "overrides:\n  model.pretrainedDir: data/out/pipelines\n"),
    path: "overrides.model.pretrainedDir",
    message: /model\.pretrainedDir "data\/out\/pipelines" is outside the data roots/,
  },
  {
    name: "model.pretrainedDir as an s3:// URL while the API's artifact store is local files",
    yaml: sweep("demo-base", "overrides:\n  model.pretrainedDir: s3://weights/imagenet\n"),
    path: "overrides.model.pretrainedDir",
    message:
      /model\.pretrainedDir "s3:\/\/weights\/imagenet" is a URL, but the API's artifact store \(ARTIFACT_URL\) is not s3:\/\//,
  },
  {
    name: "model.pretrainedDir choice of a random sweep, outside the roots though the first run may not draw it",
    yaml: "name: bad-input\nbase: demo-base\nmethod: random\nruns: 1\naxes:\n  model: [mobilenet_v2]\n  stage: [fe]\n  model.pretrainedDir: {choice: [data/weights, /etc/ssl]}\n",
    path: "axes.model.pretrainedDir.choice[1]",
    message: /model\.pretrainedDir "\/etc\/ssl" is outside the data roots/,
  },
  {
    name: "unknown model",
    yaml: sweepWithAxes("  model: [mobilenet_v2, alexnet]\n  stage: [fe]\n"),
    path: "axes.model[1]",
    message: /unknown model "alexnet"/,
  },
  {
    name: "YAML syntax error",
    yaml: "name: bad-input\nbase: demo-base\naxes: [\n",
    path: "axes",
    message: /invalid YAML/,
  },
  {
    name: "sweep name with a slash",
    yaml: sweep("demo-base").replace("name: bad-input", "name: a/b"),
    path: "name",
    message: /letters, digits/,
  },
  {
    name: "over the run limit",
    yaml: sweepWithAxes(
      `  model: [mobilenet_v2]\n  stage: [fe]\n  seed: [${Array.from({ length: 101 }, (_, i) => i).join(", ")}]\n  train.batchSize: [${Array.from({ length: 100 }, (_, i) => i + 1).join(", ")}]\n`,
    ),
    path: "axes",
    message: /expands to 10,100 runs, over the limit of 10,000/,
  },
  {
    name: "unknown top-level key",
    yaml: `${sweep("demo-base")}retries: 3\n`,
    path: "retries",
    message: /unknown key "retries"/,
  },
];

describe("POST /api/sweeps and /api/sweeps/validate with a bad sweep", () => {
  it.each(SWEEP_CASES)("$name: 400 naming $path, nothing written", async (c) => {
    const check = (res: request.Response) => {
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("invalid sweep");
      const issue = (res.body.issues as { path: string; message: string }[]).find((i) =>
        c.message.test(i.message),
      );
      expect(issue, JSON.stringify(res.body.issues)).toBeDefined();
      expect(issue?.path).toBe(c.path);
    };
    check(
      await expectNothingWritten(() => h.as("operator").post("/api/sweeps").send({ yaml: c.yaml }), {
        action: "sweep.submit",
        outcome: "rejected",
      }),
    );
    // A viewer's preview goes through the same confinement and writes nothing, not even audit.
    check(
      await expectNothingWritten(() => h.as("viewer").post("/api/sweeps/validate").send({ yaml: c.yaml })),
    );
  });

  it("a model.pretrainedDir inside the data roots is accepted, relative to XNN_DATA_ROOT", async () => {
    const res = await h
      .as("viewer")
      .post("/api/sweeps/validate")
      .send({ yaml: sweep("demo-base", "overrides:\n  model.pretrainedDir: data/weights/imagenet\n") });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.runs).toHaveLength(1);
  });

  it("a body that is neither {yaml} JSON nor text: 400 naming the expected shape", async () => {
    const res = await expectNothingWritten(() => h.as("operator").post("/api/sweeps").send({ sweep: "x" }), {
      action: "sweep.submit",
      outcome: "rejected",
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/"yaml"/);
  });

  it("malformed JSON: 400 saying the body is not valid JSON", async () => {
    const res = await expectNothingWritten(() =>
      h.as("operator").post("/api/sweeps").set("Content-Type", "application/json").send('{"yaml": '),
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/not valid JSON/);
  });

  it("a 2 MB body: 413 naming the limit", async () => {
    const res = await expectNothingWritten(() =>
      h
        .as("operator")
        .post("/api/sweeps")
        .send({ yaml: `${sweep("demo-base")}# ${"x".repeat(2 * 1024 * 1024)}\n` }),
    );
    expect(res.status).toBe(413);
    expect(res.body.error).toMatch(/limit/);
  });
});

describe("mutations on things that do not exist", () => {
  it.each([
    ["cancel", "post", "/api/sweeps/no-such-sweep/cancel", "sweep.cancel", /no-such-sweep/],
    ["promote-best", "post", "/api/sweeps/no-such-sweep/promote-best", "sweep.promote-best", /no-such-sweep/],
    ["promote", "post", "/api/runs/no-such-run/promote", "run.promote", /no-such-run/],
    ["revoke", "delete", "/api/tokens/no-such-token", "token.revoke", /no-such-token/],
  ] as const)("%s: 404 naming the id, nothing written", async (_, method, url, action, named) => {
    const res = await expectNothingWritten(() => h.as("admin")[method](url).send({}), {
      action,
      outcome: "rejected",
    });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(named);
  });

  it("revoking the token the request uses: 409, the token still works", async () => {
    const me = await h.prisma.apiToken.findFirstOrThrow({ where: { name: "ada-admin" } });
    const res = await expectNothingWritten(() => h.as("admin").delete(`/api/tokens/${me.id}`), {
      action: "token.revoke",
      outcome: "rejected",
    });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatch(/revoke the token this request uses/);
    expect((await h.as("admin").get("/api/me")).status).toBe(200);
  });

  it.each([
    [{ role: "root", name: "x" }, /role must be one of viewer, operator, admin/],
    [{ role: "viewer", name: "  " }, /name must be a non-empty string/],
    [{ role: "viewer", name: "n".repeat(101) }, /at most 100 characters/],
  ])("token create with %j: 400 naming the field, no token issued", async (body, named) => {
    const res = await expectNothingWritten(() => h.as("admin").post("/api/tokens").send(body), {
      action: "token.create",
      outcome: "rejected",
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(named);
    expect(res.body).not.toHaveProperty("token");
  });
});

describe("a viewer tries each mutation", () => {
  it.each([
    ["submit", "post", "/api/sweeps", "sweep.submit", "operator"],
    ["cancel", "post", "/api/sweeps/some-sweep/cancel", "sweep.cancel", "operator"],
    ["promote-best", "post", "/api/sweeps/some-sweep/promote-best", "sweep.promote-best", "admin"],
    ["promote", "post", "/api/runs/some-run/promote", "run.promote", "admin"],
    ["token create", "post", "/api/tokens", "token.create", "admin"],
    ["token revoke", "delete", "/api/tokens/some-token", "token.revoke", "admin"],
  ] as const)("%s: 403 naming the role needed, recorded as denied", async (_, method, url, action, needs) => {
    const res = await expectNothingWritten(
      () =>
        h
          .as("viewer")
          [method](url)
          .send({ yaml: sweep("demo-base"), role: "admin", name: "escalate" }),
      { action, outcome: "denied" },
    );
    expect(res.status).toBe(403);
    expect(res.body.error).toBe(`this needs the ${needs} role; your token has viewer`);
    const row = await h.prisma.auditEvent.findFirstOrThrow({ orderBy: { createdAt: "desc" } });
    expect(row).toMatchObject({ actor: "vera-viewer", actorRole: "viewer" });
  });
});

describe("list ranges", () => {
  it.each(["runs", "sweeps", "model-versions", "workers", "tokens", "audit"])(
    "GET /api/%s with more than 1,000 rows asked: 400 naming range",
    async (resource) => {
      const res = await expectNothingWritten(() =>
        h.as("admin").get(`/api/${resource}?range=${encodeURIComponent(`[0,${MAX_PAGE}]`)}`),
      );
      expect(res.status).toBe(400);
      expect(res.body.error).toBe(
        `range [0,${MAX_PAGE}] asks for ${MAX_PAGE + 1} rows; at most ${MAX_PAGE} per request (page through with range)`,
      );
      const ok = await h
        .as("admin")
        .get(`/api/${resource}?range=${encodeURIComponent(`[5000,${5000 + MAX_PAGE - 1}]`)}`);
      expect(ok.status).toBe(200);
    },
  );

  it("GET /api/runs?range=[0,100000000]: 400 naming range", async () => {
    const res = await h.as("viewer").get(`/api/runs?range=${encodeURIComponent("[0,100000000]")}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^range \[0,100000000\] asks for 100000001 rows; at most 1000/);
  });

  it.each([
    ["range=[0", /range is not valid JSON/],
    ["range=[5,1]", /range must look like \[start,end\]/],
    ["range=[-1,3]", /range must look like/],
    ['sort=["password","ASC"]', /cannot sort by password/],
    ['filter={"tokenHash":"x"}', /cannot filter by tokenHash/],
  ])("GET /api/runs?%s: 400 naming the parameter", async (query, named) => {
    const [key, value] = query.split("=") as [string, string];
    const res = await h.as("viewer").get(`/api/runs?${key}=${encodeURIComponent(value)}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(named);
  });

  it("getMany of more than 1,000 ids: 400 naming filter.id", async () => {
    const ids = Array.from({ length: MAX_PAGE + 1 }, (_, i) => `r${i}`);
    const res = await h
      .as("viewer")
      .get(`/api/runs?filter=${encodeURIComponent(JSON.stringify({ id: ids }))}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe(`filter.id lists ${MAX_PAGE + 1} ids; at most ${MAX_PAGE} per request`);
  });
});

describe("GET /api/audit", () => {
  it("is for admins only: an operator gets 403", async () => {
    const res = await expectNothingWritten(() => h.as("operator").get("/api/audit"));
    expect(res.status).toBe(403);
    expect(res.body.error).toMatch(/admin/);
  });

  it("an unknown action filter: 400 naming the actions", async () => {
    const res = await h
      .as("admin")
      .get(`/api/audit?filter=${encodeURIComponent(JSON.stringify({ action: "sweep.delete" }))}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/unknown action sweep.delete; one of sweep.submit/);
  });
});

describe("predict samples and uploads", () => {
  const TASK = "badinput";
  beforeAll(async () => {
    await seedRuns(h.sql, { sweepId: "bad", task: TASK, runs: 3, artifacts: true });
    const dirs = ["/etc", "data/out/pipelines", "data/synthetic"];
    for (const [i, dir] of dirs.entries()) {
      const runId = seedRunId("bad", i);
      await h.prisma.run.update({
        where: { id: runId },
        data: { config: { task: TASK, data: { dir, imageSize: 32 } } },
      });
      await h.prisma.modelVersion.create({
        data: { task: TASK, version: i + 1, runId, checkpointId: `ckpt-${runId}`, alias: null },
      });
    }
    await mkdir(path.join(dataRoot, "data/synthetic/predict/normal"), { recursive: true });
    await writeFile(path.join(dataRoot, "data/synthetic/predict/normal/in.png"), "\x89PNG\r\n\x1a\nok");
    await symlink(
      path.join(tmp, "outside/secret.yaml"),
      path.join(dataRoot, "data/synthetic/predict/normal/leak.png"),
    );
  });

  it.each([
    [1, /data\.dir "\/etc" is outside the API's data roots \(XNN_DATA_ROOTS\)/],
    [2, /data\.dir "data\/out\/pipelines" is outside the API's data roots/],
  ])("a model version whose data.dir is outside the roots (v%i): 403 naming data.dir", async (v, named) => {
    const res = await expectNothingWritten(() =>
      h.as("viewer").get(`/api/predict/samples?task=${TASK}&modelVersion=${v}`),
    );
    expect(res.status).toBe(403);
    expect(res.body.error).toMatch(named);
    const one = await h.as("viewer").get(`/api/predict/samples/normal/x.png?task=${TASK}&modelVersion=${v}`);
    expect(one.status).toBe(403);
  });

  it("a sample that is a symlink out of the data root is neither listed nor served", async () => {
    const list = await h.as("viewer").get(`/api/predict/samples?task=${TASK}&modelVersion=3`);
    expect(list.status).toBe(200);
    expect(list.body.samples.map((s: { name: string }) => s.name)).toEqual(["normal/in.png"]);
    const res = await expectNothingWritten(() =>
      h.as("viewer").get(`/api/predict/samples/normal/leak.png?task=${TASK}&modelVersion=3`),
    );
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/no sample normal\/leak\.png/);
  });

  it("a sample name with .. : 400 naming the name", async () => {
    const res = await h
      .as("viewer")
      .get(`/api/predict/samples/${encodeURIComponent("../secret.png")}?task=${TASK}&modelVersion=3`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/bad sample name/);
  });

  it("an upload over 10 MB: 413 naming the limit, nothing written", async () => {
    const res = await expectNothingWritten(() =>
      h
        .as("viewer")
        .post("/api/predict")
        .attach("image", Buffer.alloc(10 * 1024 * 1024 + 1, 7), "big.png"),
    );
    expect(res.status).toBe(413);
    expect(res.body.error).toBe("the image is larger than the 10 MB limit");
  });

  it("a corrupt PNG: 400 saying it is corrupt, nothing written", async () => {
    const corrupt = Buffer.concat([Buffer.from("\x89PNG\r\n\x1a\n", "latin1"), Buffer.alloc(64, 0xff)]);
    const res = await expectNothingWritten(() =>
      h.as("viewer").post("/api/predict").attach("image", corrupt, "corrupt.png"),
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/the PNG image is corrupt/);
  });

  it("a text file as the image: 415 saying it is not an image", async () => {
    const res = await expectNothingWritten(() =>
      h.as("viewer").post("/api/predict").attach("image", Buffer.from(SECRET_YAML), "secret.png"),
    );
    expect(res.status).toBe(415);
    expect(res.body.error).toMatch(/not an image/);
  });
});
