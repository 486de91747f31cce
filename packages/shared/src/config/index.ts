export * from "./ConfigError";
export * from "./expandSweep";
export * from "./loadSweep";
export * from "./pipeline";
export * from "./sweepFile";
export * from "./yamlSource";
export * from "./pathConfinement";
