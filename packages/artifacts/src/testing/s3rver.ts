import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
// s3rver ships no types; its constructor options and run()/close() are all we use.
// @ts-expect-error untyped CommonJS module
import S3rver from "s3rver";

export interface TestS3 {
  /** AWS_ENDPOINT_URL for this server. */
  endpoint: string;
  /** The SDK env a process needs to reach it (endpoint, region, s3rver's fixed credentials). */
  env: Record<string, string>;
  bucket: string;
  close(): Promise<void>;
}

/**
 * A real S3-compatible server (s3rver, in this process) on a free port with one empty bucket, its
 * data in a temp directory removed on close.
 */
export async function startTestS3(bucket = "xnn-test"): Promise<TestS3> {
  const directory = await mkdtemp(path.join(tmpdir(), "xnn-s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const addr = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${addr.port}`;
  return {
    endpoint,
    bucket,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
    },
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
