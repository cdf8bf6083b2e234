-- Description: redirects migration 0002_alter_redirect_new_path_help_text (sqlmigrate output for SQLite)
BEGIN;
--
-- Alter field new_path on redirect
--
-- (no-op)
COMMIT;
