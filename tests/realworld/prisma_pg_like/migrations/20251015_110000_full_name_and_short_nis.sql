-- Description: 20251015110000_full_name_and_short_nis (create-only, the rename written by hand)
-- AlterTable
ALTER TABLE "Student" RENAME COLUMN "name" TO "fullName";

-- AlterTable
ALTER TABLE "Student" ALTER COLUMN "nis" SET DATA TYPE VARCHAR(20);
