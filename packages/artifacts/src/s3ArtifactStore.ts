import { createHash, type Hash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { ArtifactStore, PutDirOptions, StoredDir } from "./artifactStore";
import {
  buildDirManifest,
  type DirManifest,
  MANIFEST_SUFFIX,
  parseDirManifest,
  sha256Hex,
  verifyDirAgainstManifest,
} from "./dirManifest";
import { ArtifactIntegrityError, ArtifactNotFoundError, ArtifactStoreUnavailableError } from "./errors";
import { withFileLock } from "./fileLock";
import type { LocalArtifactCache } from "./localCache";

const PARALLEL_FILES = 8;

export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m?.[1]) throw new Error(`${url} is not an s3://bucket/prefix URL`);
  return { bucket: m[1], prefix: (m[2] ?? "").replace(/\/+$/, "") };
}

function errorCode(err: unknown): string {
  const e = err as { name?: string; Code?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  return e.Code ?? e.name ?? e.code ?? "Error";
}

function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return code === "NoSuchKey" || code === "NotFound";
}

/** Multipart part size; a file up to this size goes up in one PUT. */
const UPLOAD_PART_BYTES = 8 * 1024 * 1024;

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  await Promise.all(lanes);
}

/**
 * Any S3-compatible service (AWS S3, MinIO, R2, GCS interop). A directory is stored as
 * content-addressed blobs (`<key>/blobs/<sha256>`) plus the manifest `<key>.xnn-dir.json`, written
 * last: replacing a directory never changes bytes a reader of the old manifest fetches, and a
 * crash mid-upload leaves the old manifest (or none) in charge. Downloads land in the host cache.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly kind = "s3" as const;
  readonly bucket: string;
  readonly prefix: string;

  readonly dataSets?: S3ArtifactStore;

  constructor(
    readonly url: string,
    readonly client: S3Client,
    readonly cache: LocalArtifactCache,
    dataCache?: LocalArtifactCache,
    private readonly ownsClient = true,
  ) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(url));
    if (dataCache) this.dataSets = new S3ArtifactStore(url, client, dataCache, undefined, false);
  }

  uriFor(key: string): string {
    return `s3://${this.bucket}/${this.prefix ? `${this.prefix}/` : ""}${key.replace(/^\/+/, "")}`;
  }

  private locate(uri: string): { bucket: string; key: string } {
    if (!uri.startsWith("s3://")) throw new Error(`the s3 artifact store cannot read ${uri}`);
    const { bucket, prefix } = parseS3Url(uri);
    return { bucket, key: prefix };
  }

  async putDir(localDir: string, key: string, opts: PutDirOptions = {}): Promise<StoredDir> {
    const uri = this.uriFor(key);
    const { bucket, key: base } = this.locate(uri);
    const manifest = await buildDirManifest(localDir, opts);
    const blobs = new Map<string, string>();
    for (const [rel, f] of Object.entries(manifest.files)) blobs.set(f.sha256, rel);
    // Blobs the current version already has need no second upload (an unchanged best checkpoint
    // in each epoch's resume state, say): the manifest proves they were complete.
    const current = await this.stat(uri).catch(() => null);
    const present = new Set(Object.values(current?.files ?? {}).map((f) => f.sha256));
    const missing = [...blobs].filter(([sha]) => !present.has(sha));
    await mapLimit(missing, PARALLEL_FILES, async ([sha, rel]) => {
      const file = path.join(localDir, rel);
      const Key = `${base}/blobs/${sha}`;
      // One PUT for a file that fits one part: the multipart helper costs more requests and time
      // than the bytes (a data set of small images), and a single PUT is just as atomic.
      if ((await fs.stat(file)).size <= UPLOAD_PART_BYTES) {
        await this.client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: await fs.readFile(file) }));
        return;
      }
      const upload = new Upload({
        client: this.client,
        params: { Bucket: bucket, Key, Body: createReadStream(file) },
        queueSize: 4,
        partSize: UPLOAD_PART_BYTES,
      });
      await upload.done();
    });
    // A single PUT is atomic: before it completes the old manifest (or none) is what readers see.
    await this.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${base}${MANIFEST_SUFFIX}`,
        Body: JSON.stringify(manifest),
        ContentType: "application/json",
      }),
    );
    await this.dropUnreferencedBlobs(bucket, base, new Set(blobs.keys()));
    return {
      uri,
      sha256: manifest.sha256,
      sizeBytes: Object.values(manifest.files).reduce((s, f) => s + f.sizeBytes, 0),
    };
  }

  /** Blobs of earlier versions of this key; best effort (a reader of the old manifest may still be busy). */
  private async dropUnreferencedBlobs(bucket: string, base: string, keep: Set<string>): Promise<void> {
    try {
      const stale: string[] = [];
      let token: string | undefined;
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: `${base}/blobs/`, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          const sha = o.Key?.slice(`${base}/blobs/`.length);
          if (o.Key && sha && !keep.has(sha)) stale.push(o.Key);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      await this.deleteKeys(bucket, stale);
    } catch {
      /* leftovers cost space, not correctness */
    }
  }

  private async deleteKeys(bucket: string, keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      if (batch.length === 1)
        await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: batch[0] }));
      else if (batch.length > 1)
        await this.client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })) } }),
        );
    }
  }

  async stat(uri: string): Promise<DirManifest | null> {
    const { bucket, key } = this.locate(uri);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: bucket, Key: `${key}${MANIFEST_SUFFIX}` }),
      );
      return parseDirManifest(
        await (res.Body as { transformToString(): Promise<string> }).transformToString(),
        uri,
      );
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async getDir(uri: string, opts: { sha256?: string } = {}): Promise<string> {
    const manifest = await this.stat(uri);
    if (!manifest) throw new ArtifactNotFoundError(uri);
    if (opts.sha256 !== undefined && manifest.sha256 !== opts.sha256)
      throw new ArtifactIntegrityError(
        uri,
        `artifact ${uri}: sha256 ${manifest.sha256} in the store does not match the recorded ${opts.sha256}`,
      );
    // Keyed by the exact file set, so two artifacts with the same content digest never share an entry.
    const id = sha256Hex(
      new TextEncoder().encode(
        JSON.stringify(Object.entries(manifest.files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      ),
    );
    // Once per host: a second process wanting the same artifact waits for the first one's copy.
    return withFileLock(path.join(this.cache.dir, "locks", `${id}.lock`), async () => {
      const cached = await this.cache.get(id);
      if (cached) {
        try {
          await verifyDirAgainstManifest(cached, manifest, uri, opts.sha256, ArtifactIntegrityError);
          return cached;
        } catch {
          // A damaged cache entry is the host's problem, not the store's: fetch a fresh copy.
          await this.cache.remove(id);
        }
      }
      const size = Object.values(manifest.files).reduce((s, f) => s + f.sizeBytes, 0);
      const dir = await this.cache.put(id, size, async (tmp) => {
        const { bucket, key } = this.locate(uri);
        const download = async (rel: string, feed?: Hash) => {
          const f = manifest.files[rel];
          if (!f)
            throw new ArtifactIntegrityError(
              uri,
              `artifact ${uri}: manifest lists ${rel} in digestOf but not in files`,
            );
          const file = path.join(tmp, rel);
          await fs.mkdir(path.dirname(file), { recursive: true });
          let res: GetObjectCommandOutput;
          try {
            res = await this.client.send(
              new GetObjectCommand({ Bucket: bucket, Key: `${key}/blobs/${f.sha256}` }),
            );
          } catch (err) {
            if (isNotFound(err)) throw new ArtifactNotFoundError(uri);
            throw err;
          }
          const h = createHash("sha256");
          await pipeline(
            res.Body as Readable,
            async function* (src: AsyncIterable<Buffer>) {
              for await (const chunk of src) {
                h.update(chunk);
                feed?.update(chunk);
                yield chunk;
              }
            },
            createWriteStream(file),
          );
          const actual = h.digest("hex");
          if (actual !== f.sha256)
            throw new ArtifactIntegrityError(
              uri,
              `artifact ${uri}: file ${rel} downloaded with sha256 ${actual}, expected ${f.sha256}; refusing to use it`,
            );
        };
        // A checkpoint's digest covers a few files: fetched in that order, they feed the content
        // hash as they stream in. A data set's covers thousands: fetched in parallel, then re-read.
        const streamed = manifest.digestOf.length <= 4;
        const whole = createHash("sha256");
        if (streamed) for (const rel of manifest.digestOf) await download(rel, whole);
        const inDigest = new Set(streamed ? manifest.digestOf : []);
        await mapLimit(
          Object.keys(manifest.files).filter((r) => !inDigest.has(r)),
          PARALLEL_FILES,
          (rel) => download(rel),
        );
        if (!streamed)
          await verifyDirAgainstManifest(tmp, manifest, uri, opts.sha256, ArtifactIntegrityError, true);
        else if (whole.digest("hex") !== manifest.sha256)
          throw new ArtifactIntegrityError(
            uri,
            `artifact ${uri}: content sha256 does not match ${manifest.sha256}`,
          );
      });
      return dir;
    });
  }

  async delete(uri: string): Promise<void> {
    const { bucket, key } = this.locate(uri);
    await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${key}${MANIFEST_SUFFIX}` }));
    await this.dropUnreferencedBlobs(bucket, key, new Set());
  }

  async verify(opts: { write?: boolean } = {}): Promise<void> {
    try {
      await this.client.send(
        // A prefix that holds nothing: one cheap request that still proves the bucket and the
        // credentials (s3rver also answers a truncated listing with an internal error).
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${this.prefix ? `${this.prefix}/` : ""}.xnn-probe/`,
        }),
      );
      if (opts.write) {
        const Key = `${this.prefix ? `${this.prefix}/` : ""}.xnn-probe-${process.pid}-${randomBytes(4).toString("hex")}`;
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: "ok" }));
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
      }
    } catch (err) {
      throw new ArtifactStoreUnavailableError(
        `ARTIFACT_URL ${this.url}: ${describeS3Error(err, this.bucket)}`,
      );
    }
  }

  close(): void {
    if (this.ownsClient) this.client.destroy();
  }
}

/** What went wrong, in words an operator can act on, plus the SDK's own error. */
export function describeS3Error(err: unknown, bucket: string): string {
  const code = errorCode(err);
  const msg = (err as Error).message || code;
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  const sys = (err as { code?: string }).code ?? cause;
  if (code === "NoSuchBucket" || (code === "NotFound" && !msg))
    return `bucket "${bucket}" does not exist (${code}: ${msg})`;
  if (
    [
      "InvalidAccessKeyId",
      "SignatureDoesNotMatch",
      "AccessDenied",
      "Forbidden",
      "CredentialsProviderError",
    ].includes(code)
  )
    return `credentials were rejected (${code}: ${msg})`;
  if (
    sys === "ECONNREFUSED" ||
    sys === "ENOTFOUND" ||
    sys === "EHOSTUNREACH" ||
    sys === "ECONNRESET" ||
    code === "TimeoutError" ||
    code === "RequestTimeout"
  )
    return `endpoint unreachable (${sys ?? code}: ${msg})`;
  return `${code}: ${msg}`;
}
