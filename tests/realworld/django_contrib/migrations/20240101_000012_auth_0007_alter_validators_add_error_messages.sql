-- Description: auth migration 0007_alter_validators_add_error_messages (sqlmigrate output for SQLite)
BEGIN;
--
-- Alter field username on user
--
-- (no-op)
COMMIT;
