import { resolveIgScheme } from "@xnn/ml";
import { type ExplainSettings, explainKey } from "@xnn/shared";

/**
 * The key of one explanation (job id and cache entry): the request's settings resolved against
 * this engine's defaults and scheme revision, so two requests share an entry only when they ask
 * for the same integration scheme. The requester and the worker both key through here.
 */
export function explainKeyOf(modelVersionId: string, imageSha256: string, settings: ExplainSettings): string {
  return explainKey(modelVersionId, imageSha256, resolveIgScheme(settings));
}
