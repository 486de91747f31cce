// The scheduler's public surface, for the demo and the benchmarks that compose the whole system in
// one process. Everything else under src/ is internal to this app.
export { type ApiServer, createServer } from "./api/createServer";
export type { ApiDeps } from "./api/deps";
export { installShutdown } from "./api/shutdown";
export { createToken, type Role } from "./services/auth/tokens";
export { type PromotionResult, promoteBestRun, promoteRun } from "./services/promotion/promoteRun";
export { PredictService } from "./services/serving/predict";
export { formatLeaderboard, type LeaderboardRow, sweepLeaderboard } from "./services/sweeps/leaderboard";
export { progressLines, showSweepProgress } from "./services/sweeps/sweepProgress";
export { type RunState, watchSweep } from "./services/sweeps/watchSweep";
