-- Description: down of 20251015110000_full_name_and_short_nis
-- AlterTable
ALTER TABLE "Student" ALTER COLUMN "nis" SET DATA TYPE TEXT;

-- AlterTable
ALTER TABLE "Student" RENAME COLUMN "fullName" TO "name";
