import { execFile } from "node:child_process";
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../data/testUtil.js";
import { splitCommand, synthCommand } from "./dataCommands.js";
import { captureIO as capture } from "./testIO.js";

const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, "../../../..");
let base: string;

beforeAll(async () => {
  base = await tempDir("xnn-cmd-");
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("data:synth / data:split commands", () => {
  it("synth then split: success, refusal without --force, replacement with it", async () => {
    const synthOut = path.join(base, "synth");
    const io = capture();
    expect(await synthCommand(["--out", synthOut, "--n", "40", "--size", "32", "--seed", "5"], io)).toBe(0);
    expect(io.stdout).toMatch(/wrote 40 images \+ 3 predict images/);
    expect(io.stderr).toMatch(/synth: 43\/43 \(100%\)/);

    const again = capture();
    expect(await synthCommand(["--out", synthOut, "--n", "40", "--size", "32"], again)).toBe(1);
    expect(again.stderr).toContain(`Output folder is not empty: ${synthOut}`);
    expect(again.stderr).toContain("--force");
    expect(await synthCommand(["--out", synthOut, "--n", "40", "--size", "32", "--force"], capture())).toBe(
      0,
    );

    // Use a synthetic split as "raw": class folders of images.
    const raw = path.join(synthOut, "train");
    const out = path.join(base, "processed");
    const s1 = capture();
    expect(await splitCommand(["--raw", raw, "--out", out, "--seed", "42"], s1)).toBe(0);
    expect(s1.stdout).toMatch(/predict\s+bacteria=1 normal=1 virus=1/);
    expect((await readdir(out)).sort()).toEqual(["predict", "split.json", "test", "train", "val"]);
    const s2 = capture();
    expect(await splitCommand(["--raw", raw, "--out", out], s2)).toBe(1);
    expect(s2.stderr).toContain("Nothing was changed");
    expect(await splitCommand(["--raw", raw, "--out", out, "--force"], capture())).toBe(0);
  });

  it("rejects bad arguments with a message, the usage text and exit code 2", async () => {
    const cases: [typeof synthCommand, string[], RegExp][] = [
      [synthCommand, ["--n", "600"], /--out is required/],
      [synthCommand, ["--out", "x", "--n", "abc"], /--n must be an integer, got "abc"/],
      [synthCommand, ["--out", "x", "--size", "8"], /--size must be an integer >= 16/],
      [synthCommand, ["--out", "x", "--bogus"], /Unknown option '--bogus'/],
      [splitCommand, ["--out", "x"], /--raw is required/],
      [splitCommand, ["--raw", "r", "--out", "x", "--seed", "1.5"], /--seed must be an integer/],
      [splitCommand, ["--raw", "r", "--out", "x", "extra"], /positional/i],
    ];
    for (const [cmd, argv, msg] of cases) {
      const io = capture();
      expect(await cmd(argv, io), argv.join(" ")).toBe(2);
      expect(io.stderr).toMatch(msg);
      expect(io.stderr).toMatch(/usage: pnpm data:(synth|split)/);
    }
    const missing = capture();
    expect(
      await splitCommand(["--raw", path.join(base, "none"), "--out", path.join(base, "o")], missing),
    ).toBe(1);
    expect(missing.stderr).toContain(path.join(base, "none"));
  });

  it("the root package scripts' entry files run (exit codes reach the shell)", async () => {
    const tsx = path.join(REPO, "node_modules", ".bin", "tsx");
    const fail = (e: { code: number; stderr: string }) => e;
    const [synth, split] = await Promise.all([
      run(
        tsx,
        [
          path.join(REPO, "packages/ml/src/cli/synth.ts"),
          "--out",
          path.join(base, "spawned"),
          "--n",
          "24",
          "--size",
          "16",
        ],
        {
          cwd: REPO,
        },
      ),
      run(tsx, [path.join(REPO, "packages/ml/src/cli/split.ts"), "--seed", "x"], { cwd: REPO }).catch(fail),
    ]);
    expect(synth.stdout).toMatch(/wrote 24 images/);
    expect(split).toMatchObject({ code: 2 });
    expect((split as { stderr: string }).stderr).toContain("usage: pnpm data:split");
  });
});
