-- Description: Undo 20251124_122500_create_assignments_table.sql
-- Author: MA Malnu Kananga Development Team

DROP INDEX IF EXISTS idx_assignments_due_date;
DROP INDEX IF EXISTS idx_assignments_teacher;
DROP TABLE IF EXISTS assignments;
