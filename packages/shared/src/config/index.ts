export * from "./ConfigError";
export * from "./expandSweep";
export * from "./loadSweep";
export * from "./pathConfinement";
export * from "./pipeline";
export * from "./sweepFile";
export * from "./yamlSource";
