export type DatasetErrorCode =
  | "MISSING_ROOT"
  | "MISSING_SPLIT"
  | "EMPTY_SPLIT"
  | "EMPTY_CLASS"
  | "CLASS_MISMATCH"
  | "OUTPUT_NOT_EMPTY"
  | "BAD_ARGUMENT";

/**
 * Errors about the on-disk dataset layout. `path` is the exact folder at fault, so a run log or
 * CLI can point the user at what to fix instead of a generic "dataset invalid".
 */
export class DatasetError extends Error {
  readonly code: DatasetErrorCode;
  readonly path: string;

  constructor(code: DatasetErrorCode, path: string, message: string) {
    super(message);
    this.name = "DatasetError";
    this.code = code;
    this.path = path;
  }
}
