-- The backend a worker runs on is resolved when it starts (tensorflow, wasm or cpu, not the "auto"
-- it was asked for); "device" says what that backend computes on (a GPU with its memory, or the CPU).
-- AlterTable
ALTER TABLE "Worker" ADD COLUMN     "device" TEXT;

