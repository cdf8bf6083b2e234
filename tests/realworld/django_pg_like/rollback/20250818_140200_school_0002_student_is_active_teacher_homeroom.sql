-- Description: manage.py sqlmigrate --backwards school 0002
BEGIN;
--
-- Add field homeroom_teacher to classroom
--
ALTER TABLE "school_classroom" DROP COLUMN "homeroom_teacher_id" CASCADE;
--
-- Add field is_active to student
--
ALTER TABLE "school_student" DROP COLUMN "is_active" CASCADE;
COMMIT;
