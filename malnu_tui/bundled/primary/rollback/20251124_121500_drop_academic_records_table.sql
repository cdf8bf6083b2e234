-- Description: Undo 20251124_121500_create_academic_records_table.sql
-- Author: MA Malnu Kananga Development Team

DROP INDEX IF EXISTS idx_academic_records_year;
DROP INDEX IF EXISTS idx_academic_records_student;
DROP TABLE IF EXISTS academic_records;
