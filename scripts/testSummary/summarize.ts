/**
 * The closing line of `pnpm test`, from vitest's JSON report and exit code. vitest's own counters
 * miss three kinds of failure: a file that fails to import (no test counted anywhere), a suite whose
 * `beforeAll` throws (its tests are reported as skipped), and an unhandled error (only the exit code
 * shows it). Each counts as a failure here, so the line cannot say `0 failed` while vitest failed.
 */

/** The parts of vitest's JSON report (its Jest-compatible shape) that the summary reads. */
export interface VitestJsonReport {
  numPassedTests: number;
  numFailedTests: number;
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: { fullName?: string; title: string; status: string }[];
  }[];
}

export interface TestSummary {
  passed: number;
  failed: number;
  skipped: string[];
  /** Why each failure outside a failing assertion was counted. */
  notes: string[];
}

export function summarize(report: VitestJsonReport, exitCode: number, root = ""): TestSummary {
  let passed = 0;
  let failed = 0;
  const skipped: string[] = [];
  const notes: string[] = [];
  const rel = (file: string) => (root && file.startsWith(root) ? file.slice(root.length + 1) : file);
  for (const file of report.testResults) {
    // A failed file with no failing test failed in a hook or at import: its tests never ran.
    const fileFailed = file.status === "failed" && !file.assertionResults.some((t) => t.status === "failed");
    let failedHere = 0;
    for (const t of file.assertionResults) {
      const name = `${rel(file.name)} > ${t.fullName ?? t.title}`;
      if (t.status === "passed") passed++;
      else if (t.status === "failed" || fileFailed) {
        // In a failed file a test that did not pass never ran (its beforeAll threw): a failure.
        failedHere++;
        if (t.status !== "failed") notes.push(`${name}: did not run (${t.status}) in a failed file`);
      } else skipped.push(name);
    }
    if (file.status === "failed" && failedHere === 0) {
      failedHere = 1;
      notes.push(`${rel(file.name)}: failed with no test run: ${firstLine(file.message) || "no message"}`);
    }
    failed += failedHere;
  }
  if (exitCode !== 0 && failed === 0) {
    failed = 1;
    notes.push(
      `vitest exited with code ${exitCode} with no failing test: an unhandled error (see its output)`,
    );
  }
  return { passed, failed, skipped, notes };
}

function firstLine(s: string | undefined): string {
  return (
    (s ?? "")
      .split("\n")
      .find((l) => l.trim() !== "")
      ?.trim() ?? ""
  );
}

/** The closing lines: the count, the skipped tests by name, and the count again as the last line. */
export function formatSummary(s: TestSummary): string {
  const line = `${s.passed} passed, ${s.failed} failed${s.skipped.length ? `, ${s.skipped.length} skipped` : ""}`;
  const lines = [...s.notes.map((n) => `counted as failed: ${n}`), line];
  if (s.skipped.length) lines.push(...s.skipped.map((n) => `skipped: ${n}`), `total: ${line}`);
  return `${lines.join("\n")}\n`;
}
