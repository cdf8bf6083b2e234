-- Description: school 0005: RunSQL data migration, the school year of enrolments written as 2025/26
BEGIN;
--
-- Raw SQL operation
--
UPDATE "school_enrolment" SET "school_year" = replace("school_year", '-', '/') WHERE "school_year" LIKE '____-__';
COMMIT;
