-- Description: school 0003: RenameField Student.full_name -> name
BEGIN;
--
-- Rename field full_name on student to name
--
ALTER TABLE "school_student" RENAME COLUMN "full_name" TO "name";
COMMIT;
