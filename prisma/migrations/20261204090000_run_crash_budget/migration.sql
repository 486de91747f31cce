-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "crashes" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "leaseToken" TEXT;
