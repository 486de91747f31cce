import type { Arch } from "../models/build.js";
import type { Naming } from "./names.js";
import { type SourceTensors, WeightsImportError } from "./source.js";

export async function readKerasH5(
  file: string,
  _arch: Arch,
): Promise<{ tensors: SourceTensors; naming: Naming }> {
  throw new WeightsImportError(`${file}: Keras H5 import is not implemented yet`, file);
}
