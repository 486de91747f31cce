// Test and benchmark helpers of the scheduler's API (seeded runs), for other packages' tests.
export { SEED_CLASSES, SEED_MODELS, type SeedOptions, seedRunId, seedRuns } from "./api/testing/seedRuns";
