export * from "./config";
export * from "./env";
export * from "./hash";
export * from "./ids";
export * from "./logger";
export * from "./models";
export * from "./queues";
export * from "./redis";
