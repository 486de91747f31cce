import type { PipelineConfig } from "@xnn/shared";
import type { EpochRecord, FinalResults } from "../services/resultsStore";

export interface TrainThreadInput {
  config: PipelineConfig;
  runDir: string;
  initFrom: string | null;
  backend: "auto" | "tensorflow" | "wasm" | "cpu";
  /** Int32Array over it: index 0 set to 1 asks the trainer to stop at the next batch. */
  stopFlag: SharedArrayBuffer;
}

export type TrainThreadMessage =
  | { type: "log"; msg: string; fields?: Record<string, unknown>; level?: "info" | "warn" }
  | { type: "resumed"; epoch: number; history: EpochRecord[] }
  | { type: "epoch"; metrics: EpochRecord }
  | {
      type: "done";
      result: Omit<FinalResults, "checkpoint"> & {
        checkpointDir: string;
        checkpoint: Omit<FinalResults["checkpoint"], "uri">;
      };
      skipped: { path: string; reason: string }[];
      backend: string;
    }
  | { type: "error"; kind: "cancelled" | "dataset" | "other"; message: string; stack?: string };
