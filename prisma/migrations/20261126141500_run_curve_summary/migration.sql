-- CreateTable
CREATE TABLE "RunCurveSummary" (
    "runId" TEXT NOT NULL,
    "split" TEXT NOT NULL,
    "maxPoints" INTEGER NOT NULL,
    "curves" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RunCurveSummary_pkey" PRIMARY KEY ("runId","split","maxPoints")
);

-- AddForeignKey
ALTER TABLE "RunCurveSummary" ADD CONSTRAINT "RunCurveSummary_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Not expressible in schema.prisma: whenever a run's PR-curve points are written, changed or deleted,
-- its thinned summaries go, so the API recomputes them from the points on the next read.
CREATE OR REPLACE FUNCTION xnn_drop_curve_summaries_new() RETURNS trigger AS $$
BEGIN
  DELETE FROM "RunCurveSummary" WHERE "runId" IN (SELECT DISTINCT "runId" FROM changed);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "PrCurvePoint_insert_drops_summary"
  AFTER INSERT ON "PrCurvePoint" REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION xnn_drop_curve_summaries_new();
CREATE TRIGGER "PrCurvePoint_update_drops_summary"
  AFTER UPDATE ON "PrCurvePoint" REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION xnn_drop_curve_summaries_new();
CREATE TRIGGER "PrCurvePoint_delete_drops_summary"
  AFTER DELETE ON "PrCurvePoint" REFERENCING OLD TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION xnn_drop_curve_summaries_new();
