// The CLI half of the bad-input catalogue (issue 12): `pnpm sweep` as a process. The CLI may read
// any local path its user names, but a file it cannot use as a pipeline is reported by place only,
// never quoted. Every case: exit code 2, the message names file:line:col (or the option), and no
// Sweep row, job or file appears.
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot, sweepCli, useSweepCliStack } from "./testing/sweepCli";

const SECRETS = /SECRET|hunter2|root:x:0/;

const cli = useSweepCliStack();
let tmp: string;

const sweepText = (base: string, stageAxis = true) =>
  `name: cli-bad\nbase: ${base}\naxes:\n  model: [mobilenet_v2]\n${stageAxis ? "  stage: [fe]\n" : ""}`;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "xnn-cli-bad-"));
  await mkdir(path.join(tmp, "outside"));
  await writeFile(path.join(tmp, "outside/secret.cnf"), "SECRET_KEY = SECRET-1\n[ new_oids ]\nX: [SECRET\n");
  await writeFile(path.join(tmp, "outside/secret.yaml"), "password: SECRET-hunter2\n");
  await mkdir(path.join(tmp, "linked"));
  await symlink(path.join(tmp, "outside/secret.yaml"), path.join(tmp, "linked/mobilenet_v2_fe.yaml"));
  await writeFile(path.join(tmp, "passwd.yaml"), sweepText("/etc/passwd", false));
  await writeFile(path.join(tmp, "cnf.yaml"), sweepText("outside/secret.cnf", false));
  await writeFile(path.join(tmp, "linked.yaml"), sweepText("linked"));
  await writeFile(path.join(tmp, "empty.yaml"), "");
  await writeFile(path.join(tmp, "binary.yaml"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0x7b, 0x5b]));
  await writeFile(path.join(tmp, "ok.yaml"), sweepText(path.join(repoRoot, "conf/demo-base")));
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const rel = (name: string) => path.relative(repoRoot, path.join(tmp, name));

const CASES: [string, () => string[], RegExp][] = [
  [
    "base: /etc/passwd (not a pipeline; not quoted)",
    () => [rel("passwd.yaml")],
    /etc\/passwd:1:1: not a pipeline file: expected a YAML mapping with pipeline keys \(content not shown\)/,
  ],
  [
    "base: a local file that is not YAML (not quoted)",
    () => [rel("cnf.yaml")],
    /secret\.cnf:\d+:\d+: not a pipeline file: invalid YAML \(content not shown\)/,
  ],
  [
    "base folder with a pipeline file that is some other YAML (not quoted)",
    () => [rel("linked.yaml")],
    /mobilenet_v2_fe\.yaml:1:1: not a pipeline file/,
  ],
  ["a sweep file that does not exist", () => [rel("nope.yaml")], /nope\.yaml:1:1: cannot read file: ENOENT/],
  ["an empty sweep file", () => [rel("empty.yaml")], /empty\.yaml:1:1: a sweep file must be a mapping/],
  ["a binary sweep file", () => [rel("binary.yaml")], /binary\.yaml:\d+:\d+/],
  [
    "--max-runs that is not a number",
    () => [rel("ok.yaml"), "--max-runs", "lots"],
    /--max-runs must be a positive integer, got lots/,
  ],
  ["two sweep files", () => [rel("ok.yaml"), rel("ok.yaml")], /expected one sweep file, got 2/],
  ["an unknown option", () => [rel("ok.yaml"), "--frobnicate"], /Unknown option '--frobnicate'/],
];

describe("pnpm sweep with bad input", () => {
  it.concurrent.each(CASES)("%s: exit 2 naming it, nothing written", async (_, args, named) => {
    const files = (await readdir(tmp, { recursive: true })).map(String).sort();
    const res = await sweepCli(args(), cli.env);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(named);
    expect(res.stderr).not.toMatch(SECRETS);
    expect(res.stdout).toBe("");
    expect(await cli.prisma.sweep.count()).toBe(0);
    expect(await cli.prisma.run.count()).toBe(0);
    expect(await cli.prisma.auditEvent.count()).toBe(0);
    expect(await cli.queue.count()).toBe(0);
    expect((await readdir(tmp, { recursive: true })).map(String).sort()).toEqual(files);
  });
});
