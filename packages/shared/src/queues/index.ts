export * from "./prune";
export * from "./runs";
