-- Description: manage.py sqlmigrate --backwards school 0005
BEGIN;
--
-- Raw SQL operation
--
UPDATE "school_enrolment" SET "school_year" = replace("school_year", '/', '-') WHERE "school_year" LIKE '____/__';
COMMIT;
