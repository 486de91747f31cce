export * from "./backend/index.js";
export * from "./data/index.js";
