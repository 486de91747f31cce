export * from "./explain";
export * from "./prune";
export * from "./runs";
export * from "./runPriority";
