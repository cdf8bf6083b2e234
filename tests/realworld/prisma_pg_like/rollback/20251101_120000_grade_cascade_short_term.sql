-- Description: down of 20251101120000_grade_cascade_short_term
-- DropForeignKey
ALTER TABLE "Grade" DROP CONSTRAINT "Grade_enrolmentId_fkey";

-- AlterEnum
BEGIN;
CREATE TYPE "Term_new" AS ENUM ('GANJIL', 'GENAP');
ALTER TABLE "Grade" ALTER COLUMN "term" TYPE "Term_new" USING ("term"::text::"Term_new");
ALTER TYPE "Term" RENAME TO "Term_old";
ALTER TYPE "Term_new" RENAME TO "Term";
DROP TYPE "Term_old";
COMMIT;

-- AddForeignKey
ALTER TABLE "Grade" ADD CONSTRAINT "Grade_enrolmentId_fkey" FOREIGN KEY ("enrolmentId") REFERENCES "Enrolment"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
