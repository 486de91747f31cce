import { z } from "zod";
import { earlyTerminateSchema } from "./earlyTerminate";
import { type AxisSpec, checkAxisSpec, isDistribution, SEARCH_METHODS } from "./searchSpace";

/**
 * What a sweep file may contain. Axis values are checked per axis by expandSweep; the shape of
 * each axis (a list, or a distribution with a non-empty range) and the fields that go with the
 * search method are checked here, each at its own place.
 */
export const sweepFileSchema = z
  .strictObject({
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
    /**
     * Keys to vary: model, classWeighting, stage, or any dotted key of the base pipeline. A list is
     * crossed (a grid axis, or a fixed axis of a random/bayes sweep); a distribution
     * (`{choice: [...]}`, `{uniform: [a, b]}`, `{loguniform: [a, b]}`, `{int: [a, b]}`) is sampled.
     */
    axes: z.record(z.string(), z.unknown()).transform((axes) => axes as Record<string, AxisSpec>),
    /** `grid` crosses every list; `random` draws `runs` points; `bayes` proposes each from finished runs. */
    method: z.enum(SEARCH_METHODS).default("grid"),
    /** random/bayes: how many points of the space to try (each crossed with the list axes). */
    runs: z.number().int().positive().optional(),
    /** Seeds the draws, so the same file expands the same way every time. */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
    earlyTerminate: earlyTerminateSchema.optional(),
  })
  .superRefine((sweep, ctx) => {
    for (const [axis, spec] of Object.entries(sweep.axes)) {
      for (const p of checkAxisSpec(spec)) {
        ctx.addIssue({ code: "custom", path: ["axes", axis, ...p.path], message: p.message });
      }
    }
    if (sweep.method === "grid") {
      if (sweep.runs !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["runs"],
          message: "runs applies to method random or bayes only",
        });
      }
      for (const [axis, spec] of Object.entries(sweep.axes)) {
        if (checkAxisSpec(spec).length === 0 && isDistribution(spec)) {
          ctx.addIssue({
            code: "custom",
            path: ["axes", axis],
            message: "a distribution needs method random or bayes; a grid axis lists its values",
          });
        }
      }
    } else {
      if (sweep.runs === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["method"],
          message: `method ${sweep.method} needs runs: N (how many points of the space to try)`,
        });
      }
      if (
        !Object.values(sweep.axes).some(
          (spec) => spec !== null && typeof spec === "object" && !Array.isArray(spec),
        )
      ) {
        ctx.addIssue({
          code: "custom",
          path: ["method"],
          message: `method ${sweep.method} needs at least one distribution axis, e.g. train.learningRate: {loguniform: [1e-4, 1e-2]}`,
        });
      }
    }
    const stage = sweep.axes.stage;
    if (stage !== undefined && !Array.isArray(stage)) {
      ctx.addIssue({
        code: "custom",
        path: ["axes", "stage"],
        message: "stage is a fixed axis (a list such as [fe, ft]): FT runs start from their FE run",
      });
    }
  });
export type SweepFile = z.infer<typeof sweepFileSchema>;

export const DEFAULT_MAX_RUNS = 10_000;
