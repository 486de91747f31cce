export * from "./client";
export * from "./migrate";
export * from "./runStatus";
export * from "./sql";
