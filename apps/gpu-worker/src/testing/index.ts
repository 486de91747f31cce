// Helpers for tests that start real worker processes (this app's and the system tests').
export { repoRoot, spawnWorker, type WorkerProcess, waitFor } from "./workerHarness";
