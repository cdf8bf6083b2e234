-- Description: manage.py sqlmigrate --backwards school 0001
BEGIN;
--
-- Alter unique_together for enrolment (1 constraint(s))
--
ALTER TABLE "school_enrolment" DROP CONSTRAINT "school_enrolment_student_id_school_year_3b1f6c2e_uniq";
--
-- Create model Enrolment
--
DROP TABLE "school_enrolment" CASCADE;
--
-- Create model Student
--
DROP TABLE "school_student" CASCADE;
--
-- Create model Teacher
--
DROP TABLE "school_teacher" CASCADE;
--
-- Create model Classroom
--
DROP TABLE "school_classroom" CASCADE;
COMMIT;
