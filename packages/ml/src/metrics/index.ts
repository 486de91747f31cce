export * from "./classification.js";
export * from "./evaluate.js";
