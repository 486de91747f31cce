export * from "./prune";
export * from "./explain";
export * from "./runs";
