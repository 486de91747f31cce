export * from "./explain";
export * from "./runs";
