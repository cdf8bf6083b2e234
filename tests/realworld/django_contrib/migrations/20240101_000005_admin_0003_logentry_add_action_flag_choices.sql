-- Description: admin migration 0003_logentry_add_action_flag_choices (sqlmigrate output for SQLite)
BEGIN;
--
-- Alter field action_flag on logentry
--
-- (no-op)
COMMIT;
