// `pnpm bench artifacts [--mb 95] [--files 5000]`: the artifact store against raw @aws-sdk calls on
// the same S3-compatible server (s3rver, local), for a ResNet-50-sized checkpoint and a data set of
// small files; then the cached path against reading from ARTIFACT_DIR. Ratio target: at least 0.8.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { createArtifactStore, FileArtifactStore, listFiles, type S3ArtifactStore } from "@xnn/artifacts";
import { startTestS3 } from "@xnn/artifacts/testing";

const { values } = parseArgs({ options: { mb: { type: "string" }, files: { type: "string" } } });
const MB = Number(values.mb ?? 95);
const FILES = Number(values.files ?? 5000);
const PARALLEL = 8;

async function mapLimit<T>(items: T[], fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), "xnn-bench-artifacts-"));
const s3 = await startTestS3("bench");
try {
  const ckpt = path.join(work, "checkpoint");
  await fs.mkdir(ckpt);
  await fs.writeFile(path.join(ckpt, "model.json"), JSON.stringify({ modelTopology: { layers: [] } }));
  await fs.writeFile(path.join(ckpt, "weights.bin"), randomBytes(MB * 1024 * 1024));
  const data = path.join(work, "data");
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(data, "train", `class_${i % 3}`);
    if (i < 3) await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, `img_${i}.png`), randomBytes(3000 + (i % 7) * 300));
  }

  const store = createArtifactStore("s3://bench/store", {
    artifactDir: path.join(work, "unused"),
    cacheDir: path.join(work, "cache"),
    cacheBytes: 100 * 1024 ** 3,
    env: s3.env,
  }) as S3ArtifactStore;
  const client = store.client;

  const rawPut = async (dir: string, prefix: string) => {
    const files = await listFiles(dir);
    await mapLimit(files, async (rel) => {
      const size = (await fs.stat(path.join(dir, rel))).size;
      if (size > 8 * 1024 * 1024)
        await new Upload({
          client,
          params: { Bucket: "bench", Key: `${prefix}/${rel}`, Body: createReadStream(path.join(dir, rel)) },
          queueSize: 4,
          partSize: 8 * 1024 * 1024,
        }).done();
      else
        await client.send(
          new PutObjectCommand({
            Bucket: "bench",
            Key: `${prefix}/${rel}`,
            Body: await fs.readFile(path.join(dir, rel)),
          }),
        );
    });
    return files;
  };
  const rawGet = async (files: string[], prefix: string, out: string) => {
    await mapLimit(files, async (rel) => {
      const res = await client.send(new GetObjectCommand({ Bucket: "bench", Key: `${prefix}/${rel}` }));
      await fs.mkdir(path.dirname(path.join(out, rel)), { recursive: true });
      await pipeline(res.Body as Readable, createWriteStream(path.join(out, rel)));
    });
  };

  const rows: string[] = [];
  const row = (what: string, bytes: number, storeS: number, rawS: number) => {
    const mbps = (s: number) => (bytes / 1024 / 1024 / s).toFixed(1);
    rows.push(
      `${what.padEnd(28)} store ${mbps(storeS).padStart(7)} MB/s   raw ${mbps(rawS).padStart(7)} MB/s   ratio ${(rawS / storeS).toFixed(2)}`,
    );
  };
  for (const [what, dir] of [
    [`checkpoint (${MB} MB)`, ckpt],
    [`data set (${FILES} files)`, data],
  ] as const) {
    const files = await listFiles(dir);
    let bytes = 0;
    for (const f of files) bytes += (await fs.stat(path.join(dir, f))).size;
    const key = path.basename(dir);
    const rawUp = await timed(() => rawPut(dir, `raw/${key}`));
    let uri = "";
    const storeUp = await timed(async () => {
      uri = (await store.putDir(dir, key)).uri;
    });
    const rawDown = await timed(() => rawGet(files, `raw/${key}`, path.join(work, `raw-${key}`)));
    const storeDown = await timed(() => store.getDir(uri));
    row(`${what} upload`, bytes, storeUp, rawUp);
    row(`${what} download`, bytes, storeDown, rawDown);
    if (key === "checkpoint") {
      const cached = await timed(() => store.getDir(uri));
      const local = new FileArtifactStore(path.join(work, "local"));
      const localUri = (await local.putDir(dir, "checkpoint")).uri;
      const fromDir = await timed(() => local.getDir(localUri));
      rows.push(
        `checkpoint cached read        ${cached.toFixed(3)} s   from ARTIFACT_DIR ${fromDir.toFixed(3)} s   (both verify every byte)`,
      );
    }
  }
  store.close();
  process.stdout.write(
    `${rows.join("\n")}\nload: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}\n`,
  );
} finally {
  await s3.close();
  await fs.rm(work, { recursive: true, force: true });
}
