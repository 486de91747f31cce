import {
  DEFAULT_IG_MAX_STEPS,
  DEFAULT_IG_RULE,
  DEFAULT_IG_STEPS,
  DEFAULT_IG_TOLERANCE,
  IG_SCHEME_REVISION,
  resolveIgScheme,
} from "@xnn/ml";
import { explainKey, sha256 } from "@xnn/shared";
import { describe, expect, it } from "vitest";
import { explainKeyOf } from "./explainKeyOf";

const image = sha256("an image");

describe("explainKeyOf", () => {
  it("differs whenever the integration scheme differs, for the same image and model version", () => {
    const keys = [
      {},
      { rule: "simpson" as const },
      { steps: 20 },
      { maxSteps: 200 },
      { tolerance: 0.01 },
      { rule: "simpson" as const, steps: 20 },
    ].map((s) => explainKeyOf("mv-1", image, s));
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("is the same for settings left out and the engine's defaults spelled out", () => {
    expect(explainKeyOf("mv-1", image, {})).toBe(
      explainKeyOf("mv-1", image, {
        steps: DEFAULT_IG_STEPS,
        rule: DEFAULT_IG_RULE,
        maxSteps: DEFAULT_IG_MAX_STEPS,
        tolerance: DEFAULT_IG_TOLERANCE,
      }),
    );
  });

  it("changes with the engine's scheme revision, so another release's answers are not served", () => {
    const other = { ...resolveIgScheme({}), revision: IG_SCHEME_REVISION + 1 };
    expect(explainKey("mv-1", image, other)).not.toBe(explainKeyOf("mv-1", image, {}));
  });

  it("still separates model versions and images", () => {
    expect(explainKeyOf("mv-1", image, {})).not.toBe(explainKeyOf("mv-2", image, {}));
    expect(explainKeyOf("mv-1", image, {})).not.toBe(explainKeyOf("mv-1", sha256("another"), {}));
  });
});
