-- A worker says whether it serves explanations (the xnn-explain queue), so the API can answer 503 at
-- once when no live worker does instead of waiting for a job nobody will take.
-- AlterTable
ALTER TABLE "Worker" ADD COLUMN     "explains" BOOLEAN NOT NULL DEFAULT false;
