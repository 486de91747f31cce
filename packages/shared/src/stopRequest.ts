/**
 * Work abandoned at a safe point because a stop was requested: between two training batches or two
 * probe images of the explanation quality step (the worker is shutting down, or the run was
 * cancelled), or at the end of an epoch (the run was pruned). The last completed epoch's resume
 * state stays valid, so the run can continue where it stopped. One error under one name
 * everywhere: the engine throws it, the training thread reports it as `"stop-requested"`, and the
 * worker's trainer rejects with it again.
 */
export class StopRequestedError extends Error {
  override name = "StopRequestedError";
}
