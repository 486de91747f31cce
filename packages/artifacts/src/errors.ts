/** The object's bytes do not match the sha256 recorded for it: nothing from it may be used. */
export class ArtifactIntegrityError extends Error {
  override name = "ArtifactIntegrityError";
  constructor(
    readonly uri: string,
    message: string,
  ) {
    super(message);
  }
}

/** No complete artifact at this URI (never written, deleted, or an upload that never finished). */
export class ArtifactNotFoundError extends Error {
  override name = "ArtifactNotFoundError";
  constructor(readonly uri: string) {
    super(`artifact ${uri} not found in the artifact store`);
  }
}

/** The store at ARTIFACT_URL cannot be used: unreachable, missing bucket, wrong credentials. */
export class ArtifactStoreUnavailableError extends Error {
  override name = "ArtifactStoreUnavailableError";
}
