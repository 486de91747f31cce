-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN "details" JSONB;
