-- Description: 20251101120000_grade_cascade_short_term
-- AlterEnum
ALTER TYPE "Term" ADD VALUE 'PENDEK';

-- DropForeignKey
ALTER TABLE "Grade" DROP CONSTRAINT "Grade_enrolmentId_fkey";

-- AddForeignKey
ALTER TABLE "Grade" ADD CONSTRAINT "Grade_enrolmentId_fkey" FOREIGN KEY ("enrolmentId") REFERENCES "Enrolment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
