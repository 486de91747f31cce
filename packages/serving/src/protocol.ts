import type { BackendKind, ExplainSettings } from "@xnn/shared";

/** workerData of an explain thread. */
export interface ExplainThreadBoot {
  backend: BackendKind;
  /** Budget for the weights of the model versions kept warm (least recently used out). */
  maxModelBytes: number;
}

/** Parent -> thread: one image to explain with one model version. */
export interface ExplainThreadRequest {
  type: "explain";
  id: number;
  versionId: string;
  /** Where the verified checkpoint lies; null when the parent knows this thread has it warm. */
  checkpointDir: string | null;
  imageSize: number | null;
  classNames: string[] | null;
  image: Uint8Array;
  settings: ExplainSettings;
}

/** Thread -> parent, before any request. */
export type ExplainThreadStatus =
  | { type: "ready"; backend: string; device: "gpu" | "cpu" }
  | { type: "init-failed"; message: string };

export interface ExplainThreadOutcome {
  predictedClass: string;
  probabilities: Record<string, number>;
  completenessGap: number;
  stepsUsed: number;
  baseline: string;
  overlayPng: Uint8Array;
  coldLoad: boolean;
  computeMs: number;
}

/** Thread -> parent, one per request. `warm` is what the thread holds after it. */
export type ExplainThreadReply =
  | { type: "done"; id: number; outcome: ExplainThreadOutcome; warm: string[] }
  | {
      type: "failed";
      id: number;
      /** "image": the upload cannot be decoded; "not-warm": send the checkpoint; "other": a bug or the backend. */
      kind: "image" | "not-warm" | "other";
      message: string;
      warm: string[];
    };
