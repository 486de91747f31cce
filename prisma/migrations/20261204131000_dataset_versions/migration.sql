-- AlterTable
ALTER TABLE "Run" ADD COLUMN "datasetVersionId" TEXT;

-- CreateTable
CREATE TABLE "DatasetVersion" (
    "id" TEXT NOT NULL,
    "datasetId" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "classNames" TEXT[],
    "classCounts" JSONB NOT NULL,
    "imageCount" INTEGER NOT NULL,
    "formats" JSONB NOT NULL,
    "sizes" JSONB NOT NULL,
    "unreadable" JSONB NOT NULL,
    "maskCount" INTEGER NOT NULL DEFAULT 0,
    "registeredBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DatasetVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DatasetImage" (
    "versionId" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "split" TEXT NOT NULL,
    "label" INTEGER NOT NULL,
    "width" INTEGER,
    "height" INTEGER,
    "format" TEXT,
    "bytes" INTEGER NOT NULL,
    "maskPath" TEXT,
    "error" TEXT,

    CONSTRAINT "DatasetImage_pkey" PRIMARY KEY ("versionId","path")
);

-- CreateIndex
CREATE UNIQUE INDEX "DatasetVersion_datasetId_fingerprint_key" ON "DatasetVersion"("datasetId", "fingerprint");

-- CreateIndex
CREATE INDEX "DatasetImage_versionId_split_label_path_idx" ON "DatasetImage"("versionId", "split", "label", "path");

-- AddForeignKey
ALTER TABLE "Run" ADD CONSTRAINT "Run_datasetVersionId_fkey" FOREIGN KEY ("datasetVersionId") REFERENCES "DatasetVersion"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "DatasetVersion" ADD CONSTRAINT "DatasetVersion_datasetId_fkey" FOREIGN KEY ("datasetId") REFERENCES "Dataset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "DatasetImage" ADD CONSTRAINT "DatasetImage_versionId_fkey" FOREIGN KEY ("versionId") REFERENCES "DatasetVersion"("id") ON DELETE CASCADE ON UPDATE CASCADE;
