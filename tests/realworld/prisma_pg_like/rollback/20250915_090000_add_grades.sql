-- Description: down of 20250915090000_add_grades
-- DropForeignKey
ALTER TABLE "Grade" DROP CONSTRAINT "Grade_enrolmentId_fkey";

-- DropTable
DROP TABLE "Grade";
