/** One tensor read from a weights file, converted to float32 (row-major, the file's own layout). */
export interface SourceTensor {
  shape: number[];
  data: Float32Array;
}

/** A weights file as read: tensor name -> tensor, in the file's order. */
export type SourceTensors = Map<string, SourceTensor>;

/** An import problem a user can cause; names the file and, where there is one, the tensor. */
export class WeightsImportError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly tensor?: string,
  ) {
    super(message);
    this.name = "WeightsImportError";
  }
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
