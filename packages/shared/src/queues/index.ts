export * from "./explain";
export * from "./prune";
export * from "./runPriority";
export * from "./runs";
