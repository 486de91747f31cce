// Small model builders for tests in other packages (not part of the engine's public entry).
export { buildTinyClassifier } from "./explain/tinyClassifier.js";
