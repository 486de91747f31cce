-- One name per explanation-quality figure, from this column to the dashboard's label
-- (packages/shared/src/records/explanation.ts): the IG gap, steps and probe count take the names the
-- per-image scores in "explainPerImage" already use. Renames keep every stored value.
-- AlterTable
ALTER TABLE "Evaluation" RENAME COLUMN "explainProbes" TO "probeImages";
ALTER TABLE "Evaluation" RENAME COLUMN "explainGap" TO "completenessGap";
ALTER TABLE "Evaluation" RENAME COLUMN "explainSteps" TO "stepsUsed";
