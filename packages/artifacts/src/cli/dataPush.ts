// `pnpm data:push <dir> s3://bucket/prefix`: uploads a split data set (train/ val/ test/ [predict/])
// so that run configs can say `data.dir: s3://bucket/prefix`. Uses the AWS SDK's own environment
// (AWS_ENDPOINT_URL, AWS_REGION, credentials).
import os from "node:os";
import path from "node:path";
import { createArtifactStore, verifyArtifactStore } from "../createArtifactStore";
import { pushDataSet } from "../dataSets";
import { parseS3Url } from "../s3ArtifactStore";

const [dir, url] = process.argv.slice(2);
if (!dir || !url?.startsWith("s3://")) {
  process.stderr.write("usage: pnpm data:push <split data dir> s3://bucket/prefix\n");
  process.exit(2);
}
try {
  const store = createArtifactStore(`s3://${parseS3Url(url).bucket}`, {
    artifactDir: os.tmpdir(),
    cacheDir: path.join(os.tmpdir(), "xnn-data-push-cache"),
    cacheBytes: 1,
  });
  await verifyArtifactStore(store, { write: true });
  const t0 = performance.now();
  const stored = await pushDataSet(store, path.resolve(dir), url);
  store.close();
  process.stdout.write(
    `${stored.uri}: ${(stored.sizeBytes / 1024 / 1024).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s, sha256 ${stored.sha256}\n` +
      `use it as  data.dir: ${stored.uri}\n`,
  );
} catch (err) {
  process.stderr.write(`data:push: ${(err as Error).message.replace(/^ARTIFACT_URL /, "")}\n`);
  process.exit(1);
}
