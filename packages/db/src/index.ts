export * from "./client";
export * from "./datasets";
export * from "./migrate";
export * from "./runStatus";
export * from "./sql";
