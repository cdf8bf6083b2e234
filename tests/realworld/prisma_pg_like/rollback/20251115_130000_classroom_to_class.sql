-- Description: down of 20251115130000_classroom_to_class
-- RenameIndex
ALTER INDEX "Class_code_key" RENAME TO "Classroom_code_key";

-- RenameForeignKey
ALTER TABLE "Enrolment" RENAME CONSTRAINT "Enrolment_classId_fkey" TO "Enrolment_classroomId_fkey";

-- AlterTable
ALTER TABLE "Class" RENAME CONSTRAINT "Class_pkey" TO "Classroom_pkey";

-- AlterTable
ALTER TABLE "Class" RENAME TO "Classroom";
