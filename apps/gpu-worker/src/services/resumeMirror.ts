import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { type ArtifactStore, snapshotDirs } from "@xnn/artifacts";
import type { Logger } from "@xnn/shared";

// The folders packages/ml's train loop keeps under a run directory (RESUME_DIR and
// BEST_CHECKPOINT_DIR there); named here so the worker's main thread need not load tfjs.
const RESUME = "resume";
const BEST = "checkpoint";
const STATE_JSON = "state.json";

async function epochOf(dir: string): Promise<number | null> {
  try {
    const state = JSON.parse(await fs.readFile(path.join(dir, RESUME, STATE_JSON), "utf8")) as {
      epoch?: unknown;
    };
    return typeof state.epoch === "number" ? state.epoch : null;
  } catch {
    return null;
  }
}

/**
 * Mirrors a run's resume state (and the best checkpoint it points to) to the artifact store after
 * every epoch, and brings it back before a run starts, so a run killed on one host resumes on
 * another whose ARTIFACT_DIR never saw it. Off when the store is ARTIFACT_DIR itself (the default):
 * the run directory already is the stored copy there.
 */
export class ResumeMirror {
  readonly enabled: boolean;
  readonly uri: string;
  private readonly key: string;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ArtifactStore,
    private readonly runDir: string,
    runId: string,
    private readonly log: Logger,
  ) {
    this.key = `runs/${runId}/resume-state`;
    this.uri = store.uriFor(this.key);
    this.enabled = !(store.kind === "file" && store.uriFor(`runs/${runId}`) === pathToFileURL(runDir).href);
  }

  /** Replaces the local state with the store's when the store's is further along; its epoch, or null. */
  async pull(): Promise<number | null> {
    if (!this.enabled) return null;
    const remote = await this.store.stat(this.uri);
    const remoteEpoch = typeof remote?.meta.epoch === "number" ? remote.meta.epoch : null;
    if (!remote || remoteEpoch === null) return null;
    const localEpoch = await epochOf(this.runDir);
    if (localEpoch !== null && localEpoch >= remoteEpoch) return null;
    const src = await this.store.getDir(this.uri, { sha256: remote.sha256 });
    await fs.mkdir(this.runDir, { recursive: true });
    for (const name of [RESUME, BEST]) {
      if (!existsSync(path.join(src, name))) continue;
      const tag = `${process.pid}-${randomBytes(4).toString("hex")}`;
      const tmp = path.join(this.runDir, `.${name}.pull-${tag}`);
      await fs.cp(path.join(src, name), tmp, { recursive: true });
      const target = path.join(this.runDir, name);
      const old = path.join(this.runDir, `.${name}.replaced-${tag}`);
      if (existsSync(target)) await fs.rename(target, old);
      await fs.rename(tmp, target);
      await fs.rm(old, { recursive: true, force: true });
    }
    // The state names the best checkpoint by the absolute path it had on the host that wrote it.
    const stateFile = path.join(this.runDir, RESUME, STATE_JSON);
    const state = JSON.parse(await fs.readFile(stateFile, "utf8")) as {
      bestCheckpoint?: { dir: string } | null;
    };
    if (state.bestCheckpoint) state.bestCheckpoint.dir = path.join(this.runDir, BEST);
    await fs.writeFile(stateFile, `${JSON.stringify(state, null, 1)}\n`);
    this.log.info(
      { uri: this.uri, epoch: remoteEpoch, localEpoch },
      "resume state fetched from the artifact store",
    );
    return remoteEpoch;
  }

  /** Queues an upload of the state as it is now (one at a time; a failure is logged, not thrown). */
  push(): void {
    if (!this.enabled) return;
    this.chain = this.chain
      .then(() => this.upload())
      .catch((err: Error) =>
        this.log.warn({ err: err.message, uri: this.uri }, "could not upload resume state"),
      );
  }

  private async upload(): Promise<void> {
    const snap = await snapshotDirs(this.runDir, [RESUME, BEST], this.runDir);
    if (!snap) return;
    try {
      const epoch = await epochOf(snap);
      if (epoch === null) return;
      await this.store.putDir(snap, this.key, { meta: { epoch } });
    } finally {
      await fs.rm(snap, { recursive: true, force: true });
    }
  }

  /** Resolves when every queued upload has finished (or failed). */
  flush(): Promise<void> {
    return this.chain;
  }

  /** After the run's results are stored the state is of no further use. */
  async discard(): Promise<void> {
    if (!this.enabled) return;
    await this.chain;
    await this.store
      .delete(this.uri)
      .catch((err: Error) =>
        this.log.warn({ err: err.message, uri: this.uri }, "could not delete resume state"),
      );
  }
}
