-- Thinned curves are now stored as columns ({recall: [], precision: []} per curve) instead of one
-- object per point. The rows are a cache the API rebuilds from PrCurvePoint on the next comparison,
-- so the old-format ones are simply dropped.
DELETE FROM "RunCurveSummary";

-- AlterTable
ALTER TABLE "RunCurveSummary" ALTER COLUMN "curves" SET DATA TYPE JSON;
