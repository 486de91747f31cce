// Small model builders for tests and for the one-step smoke check of `pnpm worker --check`
// (not part of the engine's public entry).
export { buildTinyClassifier } from "./explain/tinyClassifier.js";
