-- Description: down of 20250901080000_init (prisma migrate diff --from-schema-datamodel --to-empty --script)
-- DropForeignKey
ALTER TABLE "Enrolment" DROP CONSTRAINT "Enrolment_studentId_fkey";

-- DropForeignKey
ALTER TABLE "Enrolment" DROP CONSTRAINT "Enrolment_classroomId_fkey";

-- DropTable
DROP TABLE "Classroom";

-- DropTable
DROP TABLE "Student";

-- DropTable
DROP TABLE "Enrolment";

-- DropEnum
DROP TYPE "Term";
