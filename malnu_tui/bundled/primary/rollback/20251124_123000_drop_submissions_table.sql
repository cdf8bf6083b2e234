-- Description: Undo 20251124_123000_create_submissions_table.sql
-- Author: MA Malnu Kananga Development Team

DROP INDEX IF EXISTS idx_submissions_student;
DROP TABLE IF EXISTS submissions;
