-- Description: manage.py sqlmigrate --backwards school 0006
BEGIN;
--
-- Create constraint school_attendance_one_per_day on model attendance
--
ALTER TABLE "school_attendance" DROP CONSTRAINT "school_attendance_one_per_day";
--
-- Alter field hired_on on teacher
--
ALTER TABLE "school_teacher" ALTER COLUMN "hired_on" DROP NOT NULL;
--
-- Create model Attendance
--
DROP TABLE "school_attendance" CASCADE;
COMMIT;
