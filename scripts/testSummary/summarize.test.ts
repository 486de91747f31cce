import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { formatSummary, summarize, type VitestJsonReport } from "./summarize";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, "fixtures");
const root = path.resolve(here, "../..");
const tmp = mkdtempSync(path.join(os.tmpdir(), "xnn-summary-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the real vitest on some fixture files and returns its JSON report and exit code. */
function runVitest(files: string[]): { report: VitestJsonReport; code: number } {
  const out = path.join(tmp, `${files.join("-")}.json`);
  const r = spawnSync(
    path.join(root, "node_modules", ".bin", "vitest"),
    [
      "run",
      "--config",
      path.join(fixtures, "vitest.config.ts"),
      "--reporter=json",
      `--outputFile=${out}`,
      ...files,
    ],
    { cwd: fixtures, encoding: "utf8", env: { ...process.env, CI: "true" } },
  );
  return { report: JSON.parse(readFileSync(out, "utf8")) as VitestJsonReport, code: r.status ?? 1 };
}

describe("pnpm test's closing line", () => {
  it("counts passing tests and lists skipped ones by name, with the count again as the last line", () => {
    const { report, code } = runVitest(["passing.fixture.ts"]);
    const s = summarize(report, code, fixtures);
    expect(s).toMatchObject({
      passed: 1,
      failed: 0,
      skipped: ["passing.fixture.ts > passing is skipped on purpose"],
    });
    const lines = formatSummary(s).trimEnd().split("\n");
    expect(lines).toEqual([
      "1 passed, 0 failed, 1 skipped",
      "skipped: passing.fixture.ts > passing is skipped on purpose",
      "total: 1 passed, 0 failed, 1 skipped",
    ]);
  }, 60_000);

  it("a suite whose beforeAll throws counts its tests as failed, not skipped", () => {
    const { report, code } = runVitest(["beforeAllThrows.fixture.ts"]);
    expect(report.numFailedTests).toBe(0); // what the old line read
    const s = summarize(report, code, fixtures);
    expect(s.failed).toBe(2);
    expect(s.skipped).toEqual([]);
    expect(formatSummary(s).trimEnd().split("\n").at(-1)).toBe("0 passed, 2 failed");
  }, 60_000);

  it("a file that fails to import counts as a failure naming the file", () => {
    const { report, code } = runVitest(["importFails.fixture.ts", "passing.fixture.ts"]);
    const s = summarize(report, code, fixtures);
    expect(s.passed).toBe(1);
    expect(s.failed).toBe(1);
    expect(s.notes.join("\n")).toContain("importFails.fixture.ts: failed with no test run");
  }, 60_000);

  it("an unhandled error fails the line even when every test passed", () => {
    const { report, code } = runVitest(["unhandled.fixture.ts"]);
    expect(code).not.toBe(0);
    const s = summarize(report, code, fixtures);
    expect(s).toMatchObject({ passed: 1, failed: 1 });
    expect(s.notes.join("\n")).toContain("unhandled error");
  }, 60_000);
});
