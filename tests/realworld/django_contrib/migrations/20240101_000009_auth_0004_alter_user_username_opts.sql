-- Description: auth migration 0004_alter_user_username_opts (sqlmigrate output for SQLite)
BEGIN;
--
-- Alter field username on user
--
-- (no-op)
COMMIT;
