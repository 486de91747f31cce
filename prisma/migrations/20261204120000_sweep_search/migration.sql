-- Search methods and early termination (issue 17): a sweep keeps its search settings, a run its
-- point of the space and, when the sweep's rule stopped it, the decision; `pruned` is a run status.
-- AlterEnum
ALTER TYPE "RunStatus" ADD VALUE 'pruned';

-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "params" JSONB,
ADD COLUMN     "pruned" JSONB,
ADD COLUMN     "trial" INTEGER;

-- AlterTable
ALTER TABLE "Sweep" ADD COLUMN     "search" JSONB;
