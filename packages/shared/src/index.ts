export * from "./config";
export * from "./hash";
export * from "./ids";
export * from "./logger";
export * from "./models";
export * from "./queues";
