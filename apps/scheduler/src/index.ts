// The scheduler's public surface, for the demo and the benchmarks that compose the whole system in
// one process. Everything else under src/ is internal to this app.
export { type ApiServer, createServer } from "./api/createServer";
export type { ApiDeps } from "./api/deps";
export { installShutdown } from "./api/shutdown";
export { formatLeaderboard, type LeaderboardRow, sweepLeaderboard } from "./services/leaderboard";
export { PredictService } from "./services/predict";
export { type PromotionResult, promoteBestRun, promoteRun } from "./services/promoteRun";
export { createToken, type Role } from "./services/tokens";
export { type RunState, watchSweep } from "./services/watchSweep";
