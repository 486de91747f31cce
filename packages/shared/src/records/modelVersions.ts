import { z } from "zod";
import { timestampSchema } from "./common";

/** A registered model version in GET /api/model-versions. */
export const modelVersionRowSchema = z.object({
  id: z.string(),
  task: z.string(),
  version: z.number().int(),
  runId: z.string(),
  runKey: z.string(),
  /** PRODUCTION_ALIAS on the one version a task serves, else null. */
  alias: z.string().nullable(),
  testF1: z.number().nullable(),
  createdAt: timestampSchema,
});
export type ModelVersionRow = z.infer<typeof modelVersionRowSchema>;

/** GET /api/production?task=: the version with the checkpoint a serving process loads. */
export const productionModelSchema = modelVersionRowSchema.extend({
  checkpoint: z.object({
    uri: z.string(),
    sha256: z.string(),
    epoch: z.number().int(),
    valF1: z.number().nullable(),
  }),
});
export type ProductionModel = z.infer<typeof productionModelSchema>;

/** POST /api/runs/:id/promote and POST /api/sweeps/:id/promote-best. */
export const promotionSchema = z.object({
  /** The model version's id (react-admin wants an `id`). */
  id: z.string(),
  task: z.string(),
  runId: z.string(),
  versionId: z.string(),
  version: z.number().int(),
  /** False when the run was already the production version: nothing changed, nothing audited. */
  changed: z.boolean(),
  fromVersionId: z.string().nullable(),
  promotionId: z.string().nullable(),
  /** The comparison with the production model it replaced (null when nothing changed). */
  comparison: z.unknown().nullable(),
  /** True when the guard refused and an override promoted anyway. */
  overridden: z.boolean(),
});
export type Promotion = z.infer<typeof promotionSchema>;
