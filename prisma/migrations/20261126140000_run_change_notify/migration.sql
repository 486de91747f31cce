-- Live updates for the API's /api/events stream: every change of a run's status or progress sends
-- NOTIFY xnn_runs '<runId>'. Done in the database rather than in each writer, so the worker, the
-- scheduler and manual fixes all announce changes the same way. NOTIFY is delivered at commit, and
-- Postgres folds identical notifications within one transaction.
CREATE OR REPLACE FUNCTION xnn_notify_run_change() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('xnn_runs', NEW.id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "Run_notify_change"
  AFTER UPDATE OF status, "epochsDone", "testF1", "bestValF1" ON "Run"
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status
        OR OLD."epochsDone" IS DISTINCT FROM NEW."epochsDone"
        OR OLD."testF1" IS DISTINCT FROM NEW."testF1"
        OR OLD."bestValF1" IS DISTINCT FROM NEW."bestValF1")
  EXECUTE FUNCTION xnn_notify_run_change();
