export * from "./artifactStore";
export * from "./createArtifactStore";
export * from "./dirManifest";
export * from "./errors";
export * from "./fileArtifactStore";
export * from "./localCache";
export * from "./s3ArtifactStore";
export * from "./tarArchive";
