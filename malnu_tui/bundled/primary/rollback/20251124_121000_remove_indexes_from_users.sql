-- Description: Undo 20251124_121000_add_indexes_to_users.sql
-- Author: MA Malnu Kananga Development Team

DROP INDEX IF EXISTS idx_users_created_at;
DROP INDEX IF EXISTS idx_users_name;
