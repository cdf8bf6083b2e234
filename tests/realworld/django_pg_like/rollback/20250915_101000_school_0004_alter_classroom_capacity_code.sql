-- Description: manage.py sqlmigrate --backwards school 0004
BEGIN;
--
-- Alter field code on classroom
--
ALTER TABLE "school_classroom" ALTER COLUMN "code" TYPE varchar(10);
--
-- Alter field capacity on classroom
--
ALTER TABLE "school_classroom" ALTER COLUMN "capacity" TYPE smallint USING "capacity"::smallint;
COMMIT;
