import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startTestS3, type TestS3 } from "@xnn/artifacts/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../../..");
let s3: TestS3;

beforeAll(async () => {
  s3 = await startTestS3();
});
afterAll(async () => {
  await s3?.close();
});

/** `pnpm api` as a process: its exit code and everything it printed. */
function runApi(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "../api.ts")], {
    cwd: repoRoot,
    env: {
      ...process.env,
      DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/never_used",
      REDIS_URL: "redis://127.0.0.1:6379",
      PORT: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  // An API that did start (the check let it through) must not outlive the test.
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  return new Promise((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    }),
  );
}

describe("pnpm api start-up", () => {
  it("refuses to start on a missing bucket or wrong credentials, naming ARTIFACT_URL and the store's error", async () => {
    const missing = await runApi({ ...s3.env, ARTIFACT_URL: "s3://no-such-bucket/xnn" });
    expect(missing.code).toBe(2);
    expect(missing.out).toContain(
      'ARTIFACT_URL s3://no-such-bucket/xnn: bucket \\"no-such-bucket\\" does not exist (NoSuchBucket',
    );
    const wrong = await runApi({
      ...s3.env,
      ARTIFACT_URL: `s3://${s3.bucket}/xnn`,
      AWS_ACCESS_KEY_ID: "WRONG",
    });
    expect(wrong.code).toBe(2);
    expect(wrong.out).toContain(`ARTIFACT_URL s3://${s3.bucket}/xnn: credentials were rejected (`);
  }, 60_000);
});
