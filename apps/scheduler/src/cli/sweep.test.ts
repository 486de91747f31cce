import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot, sweepCli, useSweepCliStack } from "./testing/sweepCli";

const cli = useSweepCliStack();

describe("pnpm sweep", () => {
  it("--dry-run --json prints the 12 runs of the study: 6 FE, 6 FT each after the FE run of its model and weighting", async () => {
    // Unreachable services prove that a dry run touches neither.
    const res = await sweepCli(["conf/xray.yaml", "--dry-run", "--json"], {
      DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none",
      REDIS_URL: "redis://127.0.0.1:1",
    });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as {
      sweep: { name: string };
      runs: {
        key: string;
        model: string;
        classWeighting: string;
        stage: string;
        dependsOn: string | null;
        configHash: string;
      }[];
    };
    expect(out.sweep.name).toBe("xray-study");
    expect(out.runs).toHaveLength(12);
    const fe = out.runs.filter((r) => r.stage === "fe");
    const ft = out.runs.filter((r) => r.stage === "ft");
    expect(fe).toHaveLength(6);
    expect(ft).toHaveLength(6);
    for (const r of ft) {
      const parent = fe.find((f) => f.key === r.dependsOn)!;
      expect(parent).toMatchObject({ model: r.model, classWeighting: r.classWeighting });
    }
    expect(new Set(out.runs.map((r) => r.model))).toEqual(
      new Set(["mobilenet_v2", "resnet50", "convnext_v2_tiny"]),
    );
    expect(new Set(out.runs.map((r) => r.classWeighting))).toEqual(new Set(["none", "balanced"]));
  });

  it("--dry-run prints a random sweep's space, its rule and its drawn runs, the same twice", async () => {
    const offline = {
      DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none",
      REDIS_URL: "redis://127.0.0.1:1",
    };
    const res = await sweepCli(["conf/search.yaml", "--dry-run"], offline);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("Search: random, 12 points, seed 7");
    expect(res.stdout).toMatch(/^ {2}train\.learningRate +loguniform\(0\.0001, 0\.1\)$/m);
    expect(res.stdout).toMatch(/^ {2}stage +\[fe, ft\] {2}\(fixed\)$/m);
    expect(res.stdout).toMatch(
      /^Early termination: asha on train\.loss \(rungs at 2 x 2\^k epochs: 2, 4, 8, 16 of 24, top 1\/2 go on, FT runs only\)$/m,
    );
    expect(res.stdout).toContain("expands to 24 runs:");
    const runLines = lines.filter((l) => / {2}mobilenet_v2-none-f[et]-t\d\d /.test(l));
    expect(runLines).toHaveLength(24);
    expect(runLines[1]).toMatch(/-ft-t00 .*train\.learningRate=[\d.e-]+ .*after mobilenet_v2-none-fe-t00$/);
    const again = await sweepCli(["conf/search.yaml", "--dry-run"], offline);
    expect(again.stdout).toBe(res.stdout);
  });

  it("creates 1 sweep, 12 runs and 12 jobs; a second identical call creates nothing", async () => {
    const first = await sweepCli(["conf/xray.yaml"], cli.env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Created sweep xray-study-\w+: 12 runs, 12 jobs/);
    const second = await sweepCli(["conf/xray.yaml"], cli.env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/already exists .*nothing new was enqueued/);
    expect(await cli.prisma.sweep.count()).toBe(1);
    expect(await cli.prisma.run.count()).toBe(12);
    expect(await cli.queue.getJobCounts("waiting-children", "wait", "prioritized")).toEqual({
      "waiting-children": 6,
      wait: 0,
      prioritized: 6,
    });
    // Both submissions are in the audit trail, attributed to the command line (it holds no token).
    const audit = await cli.prisma.auditEvent.findMany({ orderBy: { createdAt: "asc" } });
    expect(audit.map((a) => [a.action, a.outcome, a.status])).toEqual([
      ["sweep.submit", "ok", 201],
      ["sweep.submit", "ok", 200],
    ]);
    expect(audit[0]!.actor).toMatch(/^cli:/);
    expect(audit[0]!.targetId).toBe((await cli.prisma.sweep.findFirstOrThrow()).id);
  });

  it("with Redis unreachable it fails naming the URL and writes nothing", async () => {
    const before = await cli.prisma.sweep.count();
    const res = await sweepCli(["conf/demo.yaml"], { ...cli.env, REDIS_URL: "redis://127.0.0.1:1" });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("redis://127.0.0.1:1");
    expect(await cli.prisma.sweep.count()).toBe(before);
  });

  const badDir = path.join(import.meta.dirname, "fixtures/bad");
  const expectations: Record<string, RegExp> = {
    "01-bad-yaml-syntax.yaml": /:5:3 axes\.model\[1\]: invalid YAML/,
    "02-unknown-key.yaml": /:6:1 retries: unknown key "retries"/,
    "03-unknown-model.yaml":
      /:7:7 axes\.model\[2\]: unknown model "mobilenet_v3"; expected one of mobilenet_v2, /,
    "04-negative-lr.yaml": /:4:23 overrides\.train\.learningRate: must be > 0, got -0\.001/,
    "05-empty-axis.yaml": /:5:19 axes\.classWeighting: must have at least 1 item/,
    "06-ft-without-fe.yaml": /:5:11 axes\.stage\[0\]: ft run \S+ has no fe run/,
    "07-over-limit.yaml": /:4:3 axes: expands to 10,008 runs, over the limit of 10,000/,
    "08-missing-base.yaml": /:2:7 base: base not found/,
    "09-wrong-types.yaml": /:4:17 overrides\.train\.epochs: expected number, got string "ten"/,
    "10-duplicate-axis.yaml": /:6:3 axes\.model: invalid YAML: duplicate key/,
    "11-empty-range.yaml": /:8:28 axes\.model\.dropout\.uniform: empty range \[0\.3, 0\.3\]/,
    "12-inverted-range.yaml": /:8:23 axes\.train\.epochs\.int: inverted range \[5, 2\]/,
    "13-loguniform-nonpositive.yaml":
      /:8:37 axes\.train\.learningRate\.loguniform\[0\]: loguniform needs positive bounds, got 0/,
    "14-runs-missing.yaml": /:3:9 method: method bayes needs runs: N/,
    "15-unknown-metric.yaml":
      /:11:11 earlyTerminate\.metric: unknown metric "val\.auc"; expected one of val\.f1, /,
  };

  it("covers fifteen kinds of malformed sweep file", () => {
    expect(readdirSync(badDir).sort()).toEqual(Object.keys(expectations).sort());
  });

  it.concurrent.each(Object.entries(expectations))(
    "%s exits non-zero naming file:line:col and key path, writing nothing",
    async (name, pattern) => {
      const file = path.relative(repoRoot, path.join(badDir, name));
      const sweepsBefore = await cli.prisma.sweep.count();
      const jobsBefore = await cli.queue.count();
      const res = await sweepCli([file], cli.env);
      expect(res.code).toBe(2);
      expect(res.stderr.startsWith(`${file}:`), res.stderr).toBe(true);
      expect(res.stderr).toMatch(pattern);
      expect(await cli.prisma.sweep.count()).toBe(sweepsBefore);
      expect(await cli.queue.count()).toBe(jobsBefore);
    },
  );
});
