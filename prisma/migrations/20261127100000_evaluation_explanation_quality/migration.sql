-- AlterTable
ALTER TABLE "Evaluation" ADD COLUMN     "deletionAuc" DOUBLE PRECISION,
ADD COLUMN     "explainGap" DOUBLE PRECISION,
ADD COLUMN     "explainMs" INTEGER,
ADD COLUMN     "explainPerImage" JSONB,
ADD COLUMN     "explainProbes" INTEGER,
ADD COLUMN     "explainSteps" DOUBLE PRECISION,
ADD COLUMN     "insertionAuc" DOUBLE PRECISION,
ADD COLUMN     "maskShare" DOUBLE PRECISION;

