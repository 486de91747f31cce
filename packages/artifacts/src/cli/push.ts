// What `pnpm data:push` and `pnpm weights:push` share: a store for the URL's bucket, the upload,
// and what to write in a config to use it. The AWS SDK's own environment applies
// (AWS_ENDPOINT_URL, AWS_REGION, credentials).
import os from "node:os";
import path from "node:path";
import type { ArtifactStore, StoredDir } from "../artifactStore";
import { createArtifactStore, verifyArtifactStore } from "../createArtifactStore";
import { parseS3Url } from "../s3ArtifactStore";

export async function pushCommand(opts: {
  /** The pnpm script, for usage and errors. */
  command: string;
  /** What the directory is, in the usage line. */
  what: string;
  /** The config key that takes the URL. */
  configKey: string;
  push: (store: ArtifactStore, localDir: string, url: string) => Promise<StoredDir>;
}): Promise<void> {
  const [dir, url] = process.argv.slice(2);
  if (!dir || !url?.startsWith("s3://")) {
    process.stderr.write(`usage: pnpm ${opts.command} <${opts.what}> s3://bucket/prefix\n`);
    process.exit(2);
  }
  try {
    const store = createArtifactStore(`s3://${parseS3Url(url).bucket}`, {
      artifactDir: os.tmpdir(),
      cacheDir: path.join(os.tmpdir(), "xnn-push-cache"),
      cacheBytes: 1,
    });
    await verifyArtifactStore(store, { write: true });
    const t0 = performance.now();
    const stored = await opts.push(store, path.resolve(dir), url);
    store.close();
    process.stdout.write(
      `${stored.uri}: ${(stored.sizeBytes / 1024 / 1024).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s, sha256 ${stored.sha256}\n` +
        `use it as  ${opts.configKey}: ${stored.uri}\n`,
    );
  } catch (err) {
    process.stderr.write(`${opts.command}: ${(err as Error).message.replace(/^ARTIFACT_URL /, "")}\n`);
    process.exit(1);
  }
}
