import { Worker } from "node:worker_threads";
import type { ExplainSettings } from "@xnn/shared";
import type {
  ExplainThreadBoot,
  ExplainThreadOutcome,
  ExplainThreadReply,
  ExplainThreadRequest,
  ExplainThreadStatus,
} from "./protocol";

/** The upload could not be decoded: the requester's fault, retrying cannot help. */
export class ExplainImageError extends Error {
  override name = "ExplainImageError";
}

export interface ExplainInput {
  versionId: string;
  imageSize: number | null;
  classNames: string[] | null;
  image: Uint8Array;
  settings: ExplainSettings;
  /** Called only when the thread does not hold the version: the verified checkpoint's directory. */
  checkpointDir: () => Promise<string>;
}

interface Pending {
  resolve: (r: ExplainThreadReply) => void;
  reject: (e: Error) => void;
}

/**
 * One long-lived explain thread: the backend is initialised once and the models it loaded stay
 * warm between requests. A thread that died is replaced on the next request (its models are gone
 * with it, so they are loaded again).
 */
export class ExplainThread {
  private worker: Worker | null = null;
  private ready: Promise<Extract<ExplainThreadStatus, { type: "ready" }>> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** What the thread reported holding after its last request. */
  private warm = new Set<string>();
  private closed = false;

  constructor(
    private readonly boot: ExplainThreadBoot,
    private readonly startTimeoutMs = 120_000,
  ) {}

  /** Starts the thread (if needed) and resolves with the backend it runs on. */
  start(): Promise<Extract<ExplainThreadStatus, { type: "ready" }>> {
    if (this.closed) return Promise.reject(new Error("explain thread is closed"));
    if (this.ready) return this.ready;
    const worker = new Worker(new URL("./boot.mjs", import.meta.url), { workerData: this.boot });
    worker.unref();
    this.worker = worker;
    this.warm = new Set();
    this.ready = new Promise((resolve, reject) => {
      const watchdog = setTimeout(() => {
        reject(new Error(`explain thread did not start within ${this.startTimeoutMs / 1000} s; ended`));
        void worker.terminate();
      }, this.startTimeoutMs);
      watchdog.unref();
      worker.on("message", (m: ExplainThreadStatus | ExplainThreadReply) => {
        if (m.type === "ready") {
          clearTimeout(watchdog);
          resolve(m);
        } else if (m.type === "init-failed") {
          clearTimeout(watchdog);
          reject(new Error(`explain thread: ${m.message}`));
        } else {
          this.warm = new Set(m.warm);
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (this.pending.size === 0) worker.unref();
          p?.resolve(m);
        }
      });
      worker.on("error", (err) => {
        clearTimeout(watchdog);
        reject(err);
        this.failAll(err);
      });
      worker.on("exit", (code) => {
        clearTimeout(watchdog);
        reject(new Error(`explain thread exited with code ${code} before it was ready`));
        this.failAll(new Error(`explain thread exited with code ${code}`));
        if (this.worker === worker) {
          this.worker = null;
          this.ready = null;
          this.warm = new Set();
        }
      });
    });
    const ready = this.ready;
    ready.catch(() => {
      if (this.ready === ready) this.ready = null;
    });
    return ready;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Version ids the thread holds warm, as of its last answer. */
  warmVersions(): string[] {
    return [...this.warm];
  }

  private send(req: Omit<ExplainThreadRequest, "type" | "id">): Promise<ExplainThreadReply> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error("explain thread is not running"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ type: "explain", id, ...req } satisfies ExplainThreadRequest);
    });
  }

  async explain(input: ExplainInput): Promise<ExplainThreadOutcome> {
    await this.start();
    const base = {
      versionId: input.versionId,
      imageSize: input.imageSize,
      classNames: input.classNames,
      image: input.image,
      settings: input.settings,
    };
    let reply = this.warm.has(input.versionId)
      ? await this.send({ ...base, checkpointDir: null })
      : await this.send({ ...base, checkpointDir: await input.checkpointDir() });
    // Evicted since its last answer said otherwise (only possible after a restart): send the checkpoint.
    if (reply.type === "failed" && reply.kind === "not-warm")
      reply = await this.send({ ...base, checkpointDir: await input.checkpointDir() });
    if (reply.type === "done") return reply.outcome;
    if (reply.kind === "image") throw new ExplainImageError(reply.message);
    throw new Error(reply.message);
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    this.ready = null;
    if (worker) await worker.terminate();
  }
}
