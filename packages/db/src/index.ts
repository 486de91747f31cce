export * from "./client";
export * from "./migrate";
export * from "./sql";
export * from "./runStatus";
