-- Description: 20251115130000_classroom_to_class (@@map("Class"), the rename written by hand)
-- AlterTable
ALTER TABLE "Classroom" RENAME TO "Class";

-- AlterTable
ALTER TABLE "Class" RENAME CONSTRAINT "Classroom_pkey" TO "Class_pkey";

-- RenameForeignKey
ALTER TABLE "Enrolment" RENAME CONSTRAINT "Enrolment_classroomId_fkey" TO "Enrolment_classId_fkey";

-- RenameIndex
ALTER INDEX "Classroom_code_key" RENAME TO "Class_code_key";
