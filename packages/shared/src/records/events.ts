import { z } from "zod";

/** The data of a `runs` event on GET /api/events: the ids of the runs that changed. */
export const runsChangeSchema = z.object({ ids: z.array(z.string()).optional() });
export type RunsChange = z.infer<typeof runsChangeSchema>;
