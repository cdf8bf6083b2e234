-- Description: school 0004: AlterField Classroom.capacity to PositiveIntegerField, Classroom.code max_length 20
BEGIN;
--
-- Alter field capacity on classroom
--
ALTER TABLE "school_classroom" ALTER COLUMN "capacity" TYPE integer USING "capacity"::integer;
--
-- Alter field code on classroom
--
ALTER TABLE "school_classroom" ALTER COLUMN "code" TYPE varchar(20);
COMMIT;
