export * from "./runs";
export * from "./prune";
