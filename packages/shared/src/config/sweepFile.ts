import { z } from "zod";

/** What a sweep file may contain. Axis values are checked per axis by expandSweep. */
export const sweepFileSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "use letters, digits, '.', '_' and '-' only"),
  description: z.string().optional(),
  /** A directory of `<model>_<stage>.yaml` pipeline files, or one pipeline file; relative to the sweep file. */
  base: z.string().min(1),
  /** Dotted keys applied to every run, e.g. `train.epochs: 3`. */
  overrides: z.record(z.string(), z.unknown()).default({}),
  /** Keys to cross: model, classWeighting, stage, or any dotted key of the base pipeline. */
  axes: z.record(z.string(), z.array(z.unknown()).min(1)),
});
export type SweepFile = z.infer<typeof sweepFileSchema>;

export const DEFAULT_MAX_RUNS = 10_000;
