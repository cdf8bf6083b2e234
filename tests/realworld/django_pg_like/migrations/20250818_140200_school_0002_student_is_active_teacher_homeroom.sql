-- Description: school 0002: Student.is_active (default True) and Classroom.homeroom_teacher
BEGIN;
--
-- Add field is_active to student
--
ALTER TABLE "school_student" ADD COLUMN "is_active" boolean DEFAULT true NOT NULL;
ALTER TABLE "school_student" ALTER COLUMN "is_active" DROP DEFAULT;
--
-- Add field homeroom_teacher to classroom
--
ALTER TABLE "school_classroom" ADD COLUMN "homeroom_teacher_id" bigint NULL CONSTRAINT "school_classroom_homeroom_teacher_id_4a7c19e2_fk_school_teacher_id" REFERENCES "school_teacher"("id") DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS "school_classroom_homeroom_teacher_id_4a7c19e2_fk_school_teacher_id" IMMEDIATE;
CREATE INDEX "school_classroom_homeroom_teacher_id_4a7c19e2" ON "school_classroom" ("homeroom_teacher_id");
COMMIT;
