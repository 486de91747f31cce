import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ArtifactStore } from "./artifactStore";
import { createArtifactStore, verifyArtifactStore } from "./createArtifactStore";
import { localDataDir, pushDataSet } from "./dataSets";
import { MANIFEST_SUFFIX, sha256Hex } from "./dirManifest";
import { ArtifactIntegrityError, ArtifactNotFoundError, ArtifactStoreUnavailableError } from "./errors";
import { withFileLock } from "./fileLock";
import { localPretrainedDir, pushPretrainedWeights } from "./pretrainedWeights";
import type { S3ArtifactStore } from "./s3ArtifactStore";
import { tarStream } from "./tarArchive";
import { startTestS3, type TestS3 } from "./testing/s3rver";

let s3: TestS3;
let work: string;

beforeAll(async () => {
  s3 = await startTestS3();
  work = await fs.mkdtemp(path.join(tmpdir(), "xnn-artifacts-test-"));
});
afterAll(async () => {
  await s3?.close();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

let n = 0;
const fresh = (name: string) => path.join(work, `${name}-${++n}`);

async function makeDir(files: Record<string, Uint8Array | string>): Promise<string> {
  const dir = fresh("src");
  for (const [rel, body] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fs.writeFile(path.join(dir, rel), body);
  }
  return dir;
}

function s3Store(cacheBytes = 1024 ** 3, cacheDir = fresh("cache"), env = s3.env): S3ArtifactStore {
  return createArtifactStore(`s3://${s3.bucket}/p${++n}`, {
    artifactDir: fresh("unused"),
    cacheDir,
    cacheBytes,
    env,
  }) as S3ArtifactStore;
}

const stores: [string, () => ArtifactStore][] = [
  ["file", () => createArtifactStore(undefined, { artifactDir: fresh("root"), cacheDir: "", cacheBytes: 1 })],
  ["s3", () => s3Store()],
];

describe.each(stores)("%s store", (_kind, make) => {
  it("round-trips a directory and verifies the recorded sha256 on read", async () => {
    const store = make();
    const weights = randomBytes(12 * 1024 * 1024); // large enough for a multipart upload
    const src = await makeDir({ "model.json": '{"a":1}', "weights.bin": weights, "sub/note.txt": "x" });
    const put = await store.putDir(src, "runs/r1/checkpoint", { digestOf: ["model.json", "weights.bin"] });
    expect(put.sha256).toBe(sha256Hex(Buffer.from('{"a":1}'), weights));
    expect(put.uri).toBe(store.uriFor("runs/r1/checkpoint"));
    const dir = await store.getDir(put.uri, { sha256: put.sha256 });
    expect(Buffer.compare(await fs.readFile(path.join(dir, "weights.bin")), weights)).toBe(0);
    expect(await fs.readFile(path.join(dir, "sub/note.txt"), "utf8")).toBe("x");
    expect((await store.stat(put.uri))?.sha256).toBe(put.sha256);
    store.close();
  });

  it("refuses a sha256 other than the recorded one, naming the object", async () => {
    const store = make();
    const put = await store.putDir(await makeDir({ "a.bin": "hello" }), "runs/r2/checkpoint");
    const wrong = "0".repeat(64);
    const err = await store.getDir(put.uri, { sha256: wrong }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ArtifactIntegrityError);
    expect((err as Error).message).toContain(put.uri);
    expect((err as Error).message).toContain(wrong);
    store.close();
  });

  it("treats a directory whose manifest was never written as absent, and deletes", async () => {
    const store = make();
    const put = await store.putDir(await makeDir({ "a.bin": "hello" }), "runs/r3/checkpoint");
    await store.delete(put.uri);
    expect(await store.stat(put.uri)).toBeNull();
    await expect(store.getDir(put.uri)).rejects.toBeInstanceOf(ArtifactNotFoundError);
    store.close();
  });

  it("start-up check passes on a usable store, empty or not", async () => {
    const store = make();
    await expect(verifyArtifactStore(store, { write: true })).resolves.toBeUndefined();
    for (const i of [1, 2, 3])
      await store.putDir(await makeDir({ "a.bin": `v${i}` }), `runs/v${i}/checkpoint`);
    await expect(verifyArtifactStore(store, { write: true })).resolves.toBeUndefined();
    store.close();
  });
});

describe("file store", () => {
  it("refuses a file changed after upload, naming the object and the file", async () => {
    const store = createArtifactStore(undefined, { artifactDir: fresh("root"), cacheDir: "", cacheBytes: 1 });
    const put = await store.putDir(await makeDir({ "w.bin": "good bytes" }), "runs/x/checkpoint");
    const dir = await store.getDir(put.uri);
    await fs.writeFile(path.join(dir, "w.bin"), "evil bytes");
    const err = await store.getDir(put.uri, { sha256: put.sha256 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ArtifactIntegrityError);
    expect((err as Error).message).toMatch(/artifact file:\/\/.*runs\/x\/checkpoint: file w\.bin has sha256/);
  });

  it("writes only a manifest when the source already sits at the key (ARTIFACT_DIR is the run's scratch)", async () => {
    const root = fresh("root");
    const store = createArtifactStore(undefined, { artifactDir: root, cacheDir: "", cacheBytes: 1 });
    const dir = path.join(root, "runs/y/checkpoint");
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, "w.bin"), "abc");
    const put = await store.putDir(dir, "runs/y/checkpoint");
    expect(await store.getDir(put.uri, { sha256: sha256Hex(Buffer.from("abc")) })).toBe(dir);
    expect(await fs.readdir(dir)).toEqual(["w.bin"]);
  });

  it("reads a checkpoint written before the store by its own manifest.json, verified the same way", async () => {
    const root = fresh("root");
    const store = createArtifactStore(undefined, { artifactDir: root, cacheDir: "", cacheBytes: 1 });
    const dir = path.join(root, "runs/old/checkpoint");
    const json = Buffer.from('{"modelTopology":{}}');
    const weights = randomBytes(100);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, "model.json"), json);
    await fs.writeFile(path.join(dir, "weights.bin"), weights);
    const files = {
      "model.json": { sha256: sha256Hex(json), sizeBytes: json.length },
      "weights.bin": { sha256: sha256Hex(weights), sizeBytes: weights.length },
    };
    const sha = sha256Hex(json, weights);
    await fs.writeFile(
      path.join(dir, "manifest.json"),
      JSON.stringify({ format: "xnn-checkpoint/1", sha256: sha, files }),
    );
    const uri = store.uriFor("runs/old/checkpoint");
    expect(await store.getDir(uri, { sha256: sha })).toBe(dir);
    await fs.writeFile(path.join(dir, "weights.bin"), randomBytes(100));
    await expect(store.getDir(uri, { sha256: sha })).rejects.toThrow(/file weights.bin has sha256/);
  });

  it("a directory copied without its manifest is absent", async () => {
    const root = fresh("root");
    const store = createArtifactStore(`file://${root}`, {
      artifactDir: "/nowhere",
      cacheDir: "",
      cacheBytes: 1,
    });
    await fs.mkdir(path.join(root, "runs/z/checkpoint"), { recursive: true });
    await fs.writeFile(path.join(root, "runs/z/checkpoint/w.bin"), "half");
    await expect(store.getDir(store.uriFor("runs/z/checkpoint"))).rejects.toBeInstanceOf(
      ArtifactNotFoundError,
    );
  });
});

describe("s3 store", () => {
  it("a crash before the manifest leaves the previous version whole, and a retry succeeds", async () => {
    const store = s3Store();
    const v1 = await store.putDir(await makeDir({ "w.bin": "version one" }), "runs/c/resume", {
      meta: { epoch: 1 },
    });
    // The process "dies" after the blobs are up and before the manifest PUT goes out.
    let crash = true;
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key ?? "";
        if (crash && context.commandName === "PutObjectCommand" && key.endsWith(MANIFEST_SUFFIX))
          throw new Error("killed mid-upload");
        return next(args);
      },
      { step: "initialize", name: "crashBeforeManifest" },
    );
    const v2src = await makeDir({ "w.bin": randomBytes(9 * 1024 * 1024) });
    await expect(store.putDir(v2src, "runs/c/resume", { meta: { epoch: 2 } })).rejects.toThrow("killed");
    expect((await store.stat(v1.uri))?.meta).toEqual({ epoch: 1 });
    const dir = await store.getDir(v1.uri, { sha256: v1.sha256 });
    expect(await fs.readFile(path.join(dir, "w.bin"), "utf8")).toBe("version one");
    crash = false;
    const v2 = await store.putDir(v2src, "runs/c/resume", { meta: { epoch: 2 } });
    expect((await store.stat(v2.uri))?.meta).toEqual({ epoch: 2 });
    await store.getDir(v2.uri, { sha256: v2.sha256 });
    store.close();
  });

  it("a corrupted object in the bucket is refused by name and nothing lands in the cache", async () => {
    const store = s3Store();
    const put = await store.putDir(
      await makeDir({ "weights.bin": "trained weights" }),
      "runs/bad/checkpoint",
    );
    const manifest = await store.stat(put.uri);
    const blobSha = manifest?.files["weights.bin"]?.sha256;
    await store.client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `${put.uri.slice(`s3://${s3.bucket}/`.length)}/blobs/${blobSha}`,
        Body: "tampered weight",
      }),
    );
    const err = await store.getDir(put.uri, { sha256: put.sha256 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ArtifactIntegrityError);
    expect((err as Error).message).toContain(`${put.uri}: file weights.bin downloaded with sha256`);
    expect(await store.cache.entries()).toEqual([]);
    store.close();
  });

  it("downloads once per host: a second store on the same cache dir reads the cached copy", async () => {
    const cacheDir = fresh("cache");
    const a = s3Store(1024 ** 3, cacheDir);
    const put = await a.putDir(await makeDir({ "w.bin": randomBytes(1000) }), "runs/once/checkpoint");
    const b = createArtifactStore(a.url, { artifactDir: "/x", cacheDir, cacheBytes: 1024 ** 3, env: s3.env });
    // Two processes asking at once both get one complete entry.
    const [d1, d2] = await Promise.all([a.getDir(put.uri), b.getDir(put.uri)]);
    expect(d1).toBe(d2);
    expect(await a.cache.entries()).toHaveLength(1);
    expect(await fs.readdir(path.join(cacheDir, "tmp"))).toEqual([]);
    a.close();
    b.close();
  });

  it("evicts least recently used entries to stay within the byte budget", async () => {
    const store = s3Store(2_500);
    const uris: string[] = [];
    for (const i of [1, 2, 3]) {
      const put = await store.putDir(
        await makeDir({ "w.bin": randomBytes(1000) }),
        `runs/lru${i}/checkpoint`,
      );
      uris.push(put.uri);
    }
    const [u1, u2, u3] = uris as [string, string, string];
    const d1 = await store.getDir(u1);
    const d2 = await store.getDir(u2);
    await store.getDir(u1); // 1 is now more recent than 2
    await store.getDir(u3); // 3 KB > 2.5 KB: the least recently used (2) goes
    expect(await store.cache.totalBytes()).toBe(2000);
    expect(existsSync(d1)).toBe(true);
    expect(existsSync(d2)).toBe(false);
    store.close();
  });

  it("refuses to start on an unreachable endpoint, naming ARTIFACT_URL and the error", async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const store = s3Store(1, fresh("c"), { ...s3.env, AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` });
    const err = await verifyArtifactStore(store).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ArtifactStoreUnavailableError);
    expect((err as Error).message).toMatch(
      /^ARTIFACT_URL s3:\/\/xnn-test\/p\d+: endpoint unreachable \(ECONNREFUSED/,
    );
    store.close();
  });

  it("refuses to start on a missing bucket", async () => {
    const store = createArtifactStore("s3://no-such-bucket/x", {
      artifactDir: "/x",
      cacheDir: fresh("c"),
      cacheBytes: 1,
      env: s3.env,
    });
    const err = await verifyArtifactStore(store).catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      /^ARTIFACT_URL s3:\/\/no-such-bucket\/x: bucket "no-such-bucket" does not exist \(NoSuchBucket/,
    );
    store.close();
  });

  it("refuses to start on wrong credentials", async () => {
    const store = s3Store(1, fresh("c"), {
      ...s3.env,
      AWS_ACCESS_KEY_ID: "WRONG",
      AWS_SECRET_ACCESS_KEY: "WRONG",
    });
    const err = await verifyArtifactStore(store).catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      /^ARTIFACT_URL s3:\/\/xnn-test\/p\d+: credentials were rejected \(/,
    );
    store.close();
  });

  it("rejects an ARTIFACT_URL of another scheme", () => {
    expect(() =>
      createArtifactStore("http://x/y", { artifactDir: "/x", cacheDir: "/c", cacheBytes: 1 }),
    ).toThrow("ARTIFACT_URL=http://x/y is invalid");
  });
});

describe("tarStream", () => {
  it("writes an archive that tar extracts byte for byte", async () => {
    const long = `${"d".repeat(90)}/${"f".repeat(60)}.bin`;
    const src = await makeDir({ "model.json": "{}", "weights.bin": randomBytes(70_001), [long]: "deep" });
    const chunks: Buffer[] = [];
    for await (const c of tarStream(src, ["model.json", "weights.bin", long], "checkpoint")) chunks.push(c);
    const tarFile = `${fresh("out")}.tar`;
    await fs.writeFile(tarFile, Buffer.concat(chunks));
    const out = fresh("x");
    await fs.mkdir(out);
    execFileSync("tar", ["-xf", tarFile, "-C", out]);
    for (const rel of ["model.json", "weights.bin", long])
      expect(
        Buffer.compare(
          await fs.readFile(path.join(out, "checkpoint", rel)),
          await fs.readFile(path.join(src, rel)),
        ),
      ).toBe(0);
  });
});

describe("withFileLock", () => {
  it("runs holders one at a time and takes over a lock whose process is gone", async () => {
    const lock = path.join(fresh("locks"), "x.lock");
    const events: string[] = [];
    let release!: () => void;
    const first = withFileLock(lock, async () => {
      events.push("first in");
      await new Promise<void>((r) => {
        release = r;
      });
      events.push("first out");
    });
    await vi.waitFor(() => expect(events).toEqual(["first in"]));
    const second = withFileLock(lock, async () => events.push("second in"), { pollMs: 10 });
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual(["first in"]);
    release();
    await Promise.all([first, second]);
    expect(events).toEqual(["first in", "first out", "second in"]);
    expect(existsSync(lock)).toBe(false);
    // A pid that cannot be alive: the lock is stale.
    await fs.writeFile(lock, "2147483646");
    await expect(withFileLock(lock, async () => "taken", { timeoutMs: 2000 })).resolves.toBe("taken");
  });
});

describe("data sets in the bucket", () => {
  async function splitSet(tag: string) {
    return makeDir({
      "train/a/1.png": `train-a-${tag}`,
      "train/b/2.png": "train-b",
      "val/a/3.png": "val-a",
      "test/b/4.png": "test-b",
      "predict/a/5.png": "p",
    });
  }

  it("data:push stores a split set; each host syncs it once into its data cache, again only when it changes", async () => {
    const pusher = s3Store();
    const url = `${pusher.url}/datasets/synth`;
    const v1 = await pushDataSet(pusher, await splitSet("v1"), url);
    expect(v1.uri).toBe(url);
    const cacheDir = fresh("host-cache");
    const w1 = s3Store(1, cacheDir);
    const w2 = createArtifactStore(pusher.url, { artifactDir: "/x", cacheDir, cacheBytes: 1, env: s3.env });
    const [d1, d2] = await Promise.all([localDataDir(w1, url, "/unused"), localDataDir(w2, url, "/unused")]);
    expect(d1).toBe(d2);
    expect(d1.startsWith(path.join(cacheDir, "datasets", "entries"))).toBe(true);
    expect(await fs.readFile(path.join(d1, "train/a/1.png"), "utf8")).toBe("train-a-v1");
    // The checkpoints' byte bound (1 byte here) never evicts a data set.
    expect(existsSync(d1)).toBe(true);
    expect(await localDataDir(w1, url, "/unused")).toBe(d1);
    await pushDataSet(pusher, await splitSet("v2"), url);
    const d3 = await localDataDir(w1, url, "/unused");
    expect(d3).not.toBe(d1);
    expect(await fs.readFile(path.join(d3, "train/a/1.png"), "utf8")).toBe("train-a-v2");
    expect(await localDataDir(w1, "data/x", "/root")).toBe("/root/data/x");
    for (const s of [pusher, w1, w2]) s.close();
  });

  it("refuses a folder without the split layout, naming what is missing, and uploads nothing", async () => {
    const store = s3Store();
    const url = `${store.url}/datasets/bad`;
    await expect(pushDataSet(store, await makeDir({ "train/a/1.png": "x" }), url)).rejects.toThrow(
      /is not a split data set: no val\/, test\/ folder/,
    );
    expect(await store.stat(url)).toBeNull();
    const file = createArtifactStore(undefined, { artifactDir: fresh("root"), cacheDir: "", cacheBytes: 1 });
    await expect(localDataDir(file, url, "/")).rejects.toThrow(
      /is in an object store, but this host's ARTIFACT_URL/,
    );
    store.close();
  });
});

describe("pretrained weights in the bucket", () => {
  const weightsDir = (tag: string) =>
    makeDir({ "model.json": `{"tag":"${tag}"}`, "weights.bin": `w-${tag}`, "manifest.json": "{}" });

  it("weights:push stores an imported weights folder; a host syncs it into its data cache, again only when it changes", async () => {
    const pusher = s3Store();
    const url = `${pusher.url}/weights/resnet18`;
    expect((await pushPretrainedWeights(pusher, await weightsDir("v1"), url)).uri).toBe(url);
    const cacheDir = fresh("host-cache");
    const host = s3Store(1, cacheDir);
    const d1 = await localPretrainedDir(host, url, "/unused");
    expect(d1.startsWith(path.join(cacheDir, "datasets", "entries"))).toBe(true);
    expect(await fs.readFile(path.join(d1, "weights.bin"), "utf8")).toBe("w-v1");
    expect(await localPretrainedDir(host, url, "/unused")).toBe(d1);
    await pushPretrainedWeights(pusher, await weightsDir("v2"), url);
    const d2 = await localPretrainedDir(host, url, "/unused");
    expect(d2).not.toBe(d1);
    expect(await fs.readFile(path.join(d2, "weights.bin"), "utf8")).toBe("w-v2");
    // A path is a folder on this host, relative ones under XNN_DATA_ROOT as for data.dir.
    expect(await localPretrainedDir(host, "pretrained/resnet18", "/root")).toBe("/root/pretrained/resnet18");
    expect(await localPretrainedDir(host, "/abs/weights", "/root")).toBe("/abs/weights");
    for (const s of [pusher, host]) s.close();
  });

  it("refuses a folder without model.json and a URL on a host whose store is not s3, and uploads nothing", async () => {
    const store = s3Store();
    const url = `${store.url}/weights/bad`;
    await expect(pushPretrainedWeights(store, await makeDir({ "weights.bin": "x" }), url)).rejects.toThrow(
      /holds no model\.json: not a weights directory \(make one with pnpm xnn weights import\)/,
    );
    expect(await store.stat(url)).toBeNull();
    const file = createArtifactStore(undefined, { artifactDir: fresh("root"), cacheDir: "", cacheBytes: 1 });
    await expect(localPretrainedDir(file, url, "/")).rejects.toThrow(
      `model.pretrainedDir ${url} is in an object store, but this host's ARTIFACT_URL`,
    );
    store.close();
  });
});
