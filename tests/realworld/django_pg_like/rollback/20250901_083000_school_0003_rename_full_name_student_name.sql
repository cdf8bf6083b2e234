-- Description: manage.py sqlmigrate --backwards school 0003
BEGIN;
--
-- Rename field full_name on student to name
--
ALTER TABLE "school_student" RENAME COLUMN "name" TO "full_name";
COMMIT;
